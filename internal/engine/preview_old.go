package engine

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/synqhq/synq/builder"
	"github.com/synqhq/synq/internal/notion"
	"github.com/synqhq/synq/schema"
)

// PreviewReadsMax bounds the Notion reads of one preview: one per updated
// row (and per related row a relation names that the index cannot), so a
// preview of a large page costs a bounded share of the token's budget.
const PreviewReadsMax = 50

// oldRead is an updated row of a preview whose current values are read.
type oldRead struct {
	change int // index in Preview.Changes
	row    row
	page   string
}

// readOld fills Old for updated rows: the row as Notion has it now,
// rendered like builder.Value.String, one page read a row, at most
// PreviewReadsMax reads. A read that fails leaves the row's OldError; the
// preview itself never fails on it.
func (e *Engine) readOld(ctx context.Context, changes []PreviewChange, rows []oldRead, log *slog.Logger) {
	budget := PreviewReadsMax
	var emails map[string]string // user id → email, listed once when needed
	related := map[string]string{}
	for _, u := range rows {
		pc := &changes[u.change]
		if budget <= 0 {
			pc.OldError = fmt.Sprintf("not read: a preview reads at most %d rows from Notion", PreviewReadsMax)
			continue
		}
		budget--
		pg, err := e.notion.GetPage(ctx, u.page)
		if err != nil {
			pc.OldError = "could not read the row from Notion: " + err.Error()
			log.Debug("preview: could not read a row's current values", "key", pc.Key, "page", u.page, "err", err)
			continue
		}
		pc.Old = map[string]string{}
		for name, nv := range u.row.props {
			have, ok := pg.Properties[name]
			if !ok {
				pc.Old[name] = ""
				continue
			}
			switch nv.Type {
			case schema.TypePeople:
				if emails == nil {
					emails = map[string]string{}
					if m, _, err := e.userList(ctx, false); err == nil {
						for em, id := range m {
							emails[id] = em
						}
					}
				}
				pc.Old[name] = peopleString(have, emails)
			case schema.TypeRelation:
				pc.Old[name] = e.relationString(ctx, u.row, name, have, related, &budget)
			default:
				pc.Old[name] = sameRendering(valueString(have), nv)
			}
		}
	}
}

// valueString renders a Notion value the way builder.Value.String renders
// the value synq would write.
func valueString(v notion.PropertyValue) string {
	switch v.Type {
	case notion.TypeTitle, notion.TypeRichText:
		return v.Text()
	case notion.TypeNumber:
		if v.Number == nil {
			return ""
		}
		return strconv.FormatFloat(*v.Number, 'f', -1, 64)
	case notion.TypeCheckbox:
		return strconv.FormatBool(v.Checkbox)
	case notion.TypeSelect:
		if v.Select == nil {
			return ""
		}
		return v.Select.Name
	case notion.TypeStatus:
		if v.Status == nil {
			return ""
		}
		return v.Status.Name
	case notion.TypeMultiSelect:
		names := make([]string, len(v.MultiSelect))
		for i, o := range v.MultiSelect {
			names[i] = o.Name
		}
		return strings.Join(names, ", ")
	case notion.TypeDate:
		if v.Date == nil {
			return ""
		}
		if v.Date.End != "" {
			return v.Date.Start + " → " + v.Date.End
		}
		return v.Date.Start
	case notion.TypeFiles:
		names := make([]string, len(v.Files))
		for i, f := range v.Files {
			names[i] = f.Name
		}
		return strings.Join(names, ", ")
	case notion.TypeURL:
		return deref(v.URL)
	case notion.TypeEmail:
		return deref(v.Email)
	case notion.TypePhoneNumber:
		return deref(v.PhoneNumber)
	case notion.TypePlace:
		if v.Place == nil {
			return ""
		}
		return v.Place.Name
	}
	return ""
}

// sameRendering returns the new value's rendering when old says the same
// in another spelling (Notion answers "2024-05-01T10:00:00.000+00:00" for a
// time written as "2024-05-01T10:00:00Z"), so only real changes show.
func sameRendering(old string, nv builder.Value) string {
	if nv.Type != schema.TypeDate || nv.Date == nil {
		return old
	}
	cur := nv.String()
	if old == cur {
		return old
	}
	o, n := strings.Split(old, " → "), strings.Split(cur, " → ")
	if len(o) != len(n) {
		return old
	}
	for i := range o {
		if !sameInstant(o[i], n[i]) {
			return old
		}
	}
	return cur
}

func sameInstant(a, b string) bool {
	if a == b {
		return true
	}
	ta, err1 := time.Parse(time.RFC3339, a)
	tb, err2 := time.Parse(time.RFC3339, b)
	return err1 == nil && err2 == nil && ta.Equal(tb)
}

func peopleString(v notion.PropertyValue, emails map[string]string) string {
	out := make([]string, 0, len(v.People))
	for _, u := range v.People {
		switch {
		case u.Email() != "":
			out = append(out, u.Email())
		case emails[u.ID] != "":
			out = append(out, emails[u.ID])
		case u.Name != "":
			out = append(out, u.Name)
		default:
			out = append(out, "user "+u.ID)
		}
	}
	return strings.Join(out, ", ")
}

// relationString renders a relation read from Notion by the related rows'
// primary keys: those the new value names are found through the related
// database's index; the others are read from Notion (within budget).
func (e *Engine) relationString(ctx context.Context, r row, prop string, v notion.PropertyValue, related map[string]string, budget *int) string {
	p, ok := r.db.Schema[prop]
	if !ok || p.Relation == nil {
		return ""
	}
	relDB := e.set.Databases[p.Relation.Database]
	if newKeys := r.props[prop].Keys; len(newKeys) > 0 {
		if m, err := e.rdb.IndexGet(ctx, p.Relation.Database, newKeys); err == nil {
			for k, en := range m {
				related[normID(en.PageID)] = k
			}
		}
	}
	out := make([]string, 0, len(v.Relation))
	for _, ref := range v.Relation {
		id := normID(ref.ID)
		key, ok := related[id]
		if !ok && relDB != nil && *budget > 0 {
			*budget--
			if pg, err := e.notion.GetPage(ctx, ref.ID); err == nil {
				if pv, ok := pg.Properties[relDB.PrimaryKey]; ok {
					key = valueString(pv)
					related[id] = key
				}
			}
		}
		if key == "" {
			key = "page " + ref.ID
		}
		out = append(out, key)
	}
	// builder renders keys in the order given; Notion keeps its own order.
	if want := r.props[prop].Keys; len(want) == len(out) {
		sorted, ws := slices.Sorted(slices.Values(out)), slices.Sorted(slices.Values(want))
		if slices.Equal(sorted, ws) {
			return strings.Join(want, ", ")
		}
	}
	return strings.Join(out, ", ")
}

func normID(id string) string { return strings.ReplaceAll(id, "-", "") }

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
