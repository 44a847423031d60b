package engine

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/synqhq/synq/builder"
	"github.com/synqhq/synq/internal/notion"
	"github.com/synqhq/synq/schema"
)

// schemaToNotion is the Notion configuration of a declared property;
// relDataSource is the related data source's id for relations.
func schemaToNotion(p schema.Property, relDataSource string) notion.PropertySchema {
	ns := notion.PropertySchema{Type: string(p.Type)}
	switch p.Type {
	case schema.TypeNumber:
		ns.Format = string(p.Format)
		if ns.Format == "" {
			ns.Format = string(schema.Plain)
		}
	case schema.TypeSelect, schema.TypeMultiSelect, schema.TypeStatus:
		for _, o := range p.Options {
			ns.Options = append(ns.Options, notion.SelectOption{Name: o.Name, Color: string(o.Color), Description: o.Description})
		}
		for _, g := range p.Groups {
			ns.Groups = append(ns.Groups, notion.StatusGroup{Name: g.Name, Color: string(g.Color), OptionNames: g.Options})
		}
	case schema.TypeRelation:
		rc := &notion.RelationConfig{DataSourceID: relDataSource, Type: notion.SingleProperty}
		if p.Relation.TwoWay {
			rc.Type = notion.DualProperty
			rc.SyncedPropertyName = p.Relation.RelatedPropertyName
		}
		ns.Relation = rc
	}
	return ns
}

// schemaCovers says whether the data source's property have already is what
// want declares (options may be a superset: Notion adds options on use).
func schemaCovers(have, want notion.PropertySchema) bool {
	if have.Type != want.Type {
		return false
	}
	switch want.Type {
	case string(schema.TypeNumber):
		return have.Format == want.Format
	case "select", "multi_select", "status":
		names := map[string]bool{}
		for _, o := range have.Options {
			names[o.Name] = true
		}
		for _, o := range want.Options {
			if !names[o.Name] {
				return false
			}
		}
		return true
	case "relation":
		return have.Relation != nil && sameID(have.Relation.DataSourceID, want.Relation.DataSourceID) &&
			have.Relation.Type == want.Relation.Type
	}
	return true
}

// mergeOptions keeps the options Notion already has (added by use or by a
// person) when adding declared ones: an update lists the options to keep.
func mergeOptions(have, want notion.PropertySchema) notion.PropertySchema {
	if have.Type != want.Type || len(have.Options) == 0 {
		return want
	}
	names := map[string]bool{}
	for _, o := range want.Options {
		names[o.Name] = true
	}
	for _, o := range have.Options {
		if !names[o.Name] {
			want.Options = append(want.Options, notion.SelectOption{Name: o.Name, Color: o.Color})
		}
	}
	return want
}

// encode turns a validated row's values into Notion values, resolving
// people (email → user id) and relations (key → page id). It returns the
// relation keys that are missing (not written yet), by property. Emails no
// member has are left out and added to unknown (warned about once per
// run by the caller, not once per row).
func (e *Engine) encode(ctx context.Context, r row, log *slog.Logger, unknown *emailSet) (map[string]notion.PropertyValue, map[string][]string, error) {
	out := make(map[string]notion.PropertyValue, len(r.props))
	var pending map[string][]string
	for name, v := range r.props {
		switch v.Type {
		case schema.TypeRelation:
			nv, missing, err := e.encodeRelationRow(ctx, r, name, v.Keys)
			if err != nil {
				return nil, nil, fmt.Errorf("property %q: %w", name, err)
			}
			if len(missing) > 0 {
				// Logged once per page with the others (settleRelations).
				if pending == nil {
					pending = map[string][]string{}
				}
				pending[name] = missing
			}
			out[name] = nv
		case schema.TypePeople:
			ids, missing, err := e.userIDs(ctx, v.Emails)
			if err != nil {
				return nil, nil, fmt.Errorf("property %q: %w", name, err)
			}
			unknown.add(missing...)
			out[name] = notion.PeopleValue(ids...)
		default:
			out[name] = valueToNotion(v)
		}
	}
	return out, pending, nil
}

// emailSet collects the emails a page could not resolve, from the rows
// it writes at once.
type emailSet struct {
	mu sync.Mutex
	m  map[string]struct{}
}

func (s *emailSet) add(emails ...string) {
	if s == nil || len(emails) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, em := range emails {
		if s.m == nil {
			s.m = map[string]struct{}{}
		}
		s.m[strings.ToLower(em)] = struct{}{}
	}
}

func (s *emailSet) sorted() []string {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Sorted(maps.Keys(s.m))
}

// valueToNotion converts the values that need no lookup.
func valueToNotion(v builder.Value) notion.PropertyValue {
	switch v.Type {
	case schema.TypeTitle:
		return notion.TitleValue(texts(v.Text)...)
	case schema.TypeRichText:
		return notion.RichTextValue(texts(v.Text)...)
	case schema.TypeNumber:
		return notion.NumberValue(v.Number)
	case schema.TypeCheckbox:
		return notion.CheckboxValue(v.Checked)
	case schema.TypeSelect:
		return notion.SelectValue(first(v.Names))
	case schema.TypeStatus:
		return notion.StatusValue(first(v.Names))
	case schema.TypeMultiSelect:
		return notion.MultiSelectValue(v.Names...)
	case schema.TypeDate:
		if v.Date == nil {
			return notion.DateValue(nil)
		}
		return notion.DateValue(&notion.Date{Start: v.Date.Start, End: v.Date.End, TimeZone: v.Date.TimeZone})
	case schema.TypeFiles:
		files := make([]notion.File, len(v.Files))
		for i, f := range v.Files {
			files[i] = notion.ExternalFile(f.Name, f.URL)
		}
		return notion.FilesValue(files...)
	case schema.TypeURL:
		return notion.URLValue(v.Scalar)
	case schema.TypeEmail:
		return notion.EmailValue(v.Scalar)
	case schema.TypePhoneNumber:
		return notion.PhoneNumberValue(v.Scalar)
	case schema.TypePlace:
		if v.Place == nil {
			return notion.PlaceValue(nil)
		}
		return notion.PlaceValue(&notion.Place{Lat: v.Place.Lat, Lon: v.Place.Lon, Name: v.Place.Name, Address: v.Place.Address})
	}
	return notion.PropertyValue{Type: string(v.Type)}
}

// Names turns the ids Notion values hold back into what builder values
// name: a user id into the member's email, a related page's id into its
// row's primary key. A nil function, or one that answers false, leaves
// the id as it is.
type Names struct {
	Email func(userID string) (string, bool)
	Key   func(pageID string) (string, bool)
}

// ValueFromNotion is the inverse of the encoding of values (valueToNotion,
// encode): a value as Notion holds it, as the builder value that writes
// it, so what Notion holds can be compared with what was meant (synqtest's
// rows, the property-type conformance test). Cleared values decode to the
// zero value of their type. A type without a decoding here is an error:
// a new property type needs its case.
func ValueFromNotion(v notion.PropertyValue, names Names) (builder.Value, error) {
	resolve := func(f func(string) (string, bool), id string) string {
		if f != nil {
			if s, ok := f(id); ok {
				return s
			}
		}
		return id
	}
	out := builder.Value{Type: schema.Type(v.Type)}
	switch out.Type {
	case schema.TypeTitle:
		out.Text = textsOf(v.Title)
	case schema.TypeRichText:
		out.Text = textsOf(v.RichText)
	case schema.TypeNumber:
		out.Number = v.Number
	case schema.TypeCheckbox:
		out.Checked = v.Checkbox
	case schema.TypeSelect, schema.TypeStatus:
		o := v.Select
		if out.Type == schema.TypeStatus {
			o = v.Status
		}
		if o != nil {
			out.Names = []string{o.Name}
		}
	case schema.TypeMultiSelect:
		for _, o := range v.MultiSelect {
			out.Names = append(out.Names, o.Name)
		}
	case schema.TypeDate:
		if v.Date != nil {
			out.Date = &builder.DateValue{Start: v.Date.Start, End: v.Date.End, TimeZone: v.Date.TimeZone}
		}
	case schema.TypePeople:
		for _, u := range v.People {
			out.Emails = append(out.Emails, resolve(names.Email, u.ID))
		}
	case schema.TypeFiles:
		for _, f := range v.Files {
			fv := builder.FileValue{Name: f.Name}
			switch {
			case f.External != nil:
				fv.URL = f.External.URL
			case f.File != nil:
				fv.URL = f.File.URL
			}
			out.Files = append(out.Files, fv)
		}
	case schema.TypeURL:
		out.Scalar = deref(v.URL)
	case schema.TypeEmail:
		out.Scalar = deref(v.Email)
	case schema.TypePhoneNumber:
		out.Scalar = deref(v.PhoneNumber)
	case schema.TypePlace:
		if p := v.Place; p != nil {
			out.Place = &builder.PlaceValue{Lat: p.Lat, Lon: p.Lon, Name: p.Name, Address: p.Address}
		}
	case schema.TypeRelation:
		if v.HasMore {
			return out, errors.New("the relation lists more related pages than Notion returns with a page (25)")
		}
		for _, r := range v.Relation {
			out.Keys = append(out.Keys, resolve(names.Key, r.ID))
		}
	default:
		return out, fmt.Errorf("no decoding of Notion %q values: add the type to engine.ValueFromNotion", v.Type)
	}
	return out, nil
}

func textsOf(items []notion.RichText) []builder.Text {
	var out []builder.Text
	for _, it := range items {
		t := builder.Text{Content: it.Content()}
		if it.Text != nil && it.Text.Link != nil {
			t.Link = it.Text.Link.URL
		}
		out = append(out, t)
	}
	return out
}

func texts(in []builder.Text) []notion.RichText {
	out := make([]notion.RichText, len(in))
	for i, t := range in {
		if t.Link != "" {
			out[i] = notion.LinkText(t.Content, t.Link)
		} else {
			out[i] = notion.Text(t.Content)
		}
	}
	return out
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

// encodeRelation resolves related keys through the related database's
// index. Unresolved keys are left out of the value and returned.
func (e *Engine) encodeRelation(ctx context.Context, p schema.Property, keys []string) (notion.PropertyValue, []string, error) {
	related := p.Relation.Database
	if _, err := e.database(ctx, related); err != nil {
		return notion.PropertyValue{}, nil, err
	}
	m, err := e.lookupIndex(ctx, related, keys, pageLog(ctx, e.log))
	if err != nil {
		return notion.PropertyValue{}, nil, err
	}
	pageIDs := make([]string, 0, len(keys))
	var missing []string
	for _, k := range keys {
		if en, ok := m[k]; ok {
			pageIDs = append(pageIDs, en.PageID)
		} else {
			missing = append(missing, k)
		}
	}
	return notion.RelationValue(pageIDs...), missing, nil
}

// userIDs maps emails to workspace user ids through the workspace's
// member list, listed once per executor and cached for UsersTTL. An email
// the cached list lacks lists the members again only when the list is
// older than UsersMissRefresh (a member may have just joined): rows with
// unknown emails never cost a listing each.
func (e *Engine) userIDs(ctx context.Context, emails []string) (ids, unknown []string, err error) {
	users, at, err := e.userList(ctx, false)
	if err != nil {
		return nil, nil, err
	}
	resolve := func() {
		ids, unknown = ids[:0], unknown[:0]
		for _, em := range emails {
			if id, ok := users[strings.ToLower(em)]; ok {
				ids = append(ids, id)
			} else {
				unknown = append(unknown, em)
			}
		}
	}
	resolve()
	if len(unknown) > 0 && e.cfg.Now().Sub(at) > e.cfg.UsersMissRefresh {
		if users, _, err = e.userList(ctx, true); err != nil {
			return nil, nil, err
		}
		resolve()
	}
	return ids, unknown, nil
}

// userList returns the cached email → user id map and when it was listed,
// listing the members when the cache is empty, expired or refresh is set
// and it is older than UsersMissRefresh. Concurrent callers share one
// listing.
func (e *Engine) userList(ctx context.Context, refresh bool) (map[string]string, time.Time, error) {
	cached := func() (map[string]string, time.Time, bool) {
		e.usersMu.Lock()
		defer e.usersMu.Unlock()
		age := e.cfg.Now().Sub(e.usersAt)
		ok := e.users != nil && age <= e.cfg.UsersTTL && (!refresh || age <= e.cfg.UsersMissRefresh)
		return e.users, e.usersAt, ok
	}
	if m, at, ok := cached(); ok {
		return m, at, nil
	}
	v, err, _ := e.usersFlight.Do("users", func() (any, error) {
		// Another caller may have listed while this one queued.
		if m, at, ok := cached(); ok {
			return usersAt{m, at}, nil
		}
		// The listing is shared: one caller's cancelled page must not fail
		// the others waiting on it.
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		defer cancel()
		list, err := e.notion.AllUsers(lctx)
		if err != nil {
			return nil, fmt.Errorf("list workspace users to resolve people: %w", err)
		}
		m := make(map[string]string, len(list))
		for _, u := range list {
			if em := u.Email(); em != "" {
				m[strings.ToLower(em)] = u.ID
			}
		}
		now := e.cfg.Now()
		e.usersMu.Lock()
		e.users, e.usersAt = m, now
		e.usersMu.Unlock()
		return usersAt{m, now}, nil
	})
	if err != nil {
		return nil, time.Time{}, err
	}
	u := v.(usersAt)
	return u.m, u.at, nil
}

type usersAt struct {
	m  map[string]string
	at time.Time
}

func coverOf(cover string) *notion.Icon {
	if cover == "" {
		return nil
	}
	return notion.ExternalCover(cover)
}

func iconOf(icon string) *notion.Icon {
	switch {
	case icon == "":
		return nil
	case strings.HasPrefix(icon, "http://") || strings.HasPrefix(icon, "https://"):
		return notion.ExternalIcon(icon)
	}
	return notion.EmojiIcon(icon)
}

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}

func mapsKeys[V any](m map[string]V) iter.Seq[string] { return maps.Keys(m) }
