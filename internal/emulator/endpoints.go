package emulator

import (
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"
)

// botUser is the integration's own user: created_by of what it writes.
func (s *store) botUser() map[string]any {
	for _, u := range s.users {
		if u.Bot {
			id, _ := normalizeID(u.ID)
			return map[string]any{"object": "user", "id": id}
		}
	}
	return map[string]any{"object": "user", "id": "00000000-0000-4000-8000-000000000b07"}
}

// webURL is the url of an object: a page of the emulator's web view once
// it serves one (path is "/databases/<id>" or "/pages/<id>"), else the shape
// of Notion's own urls.
func (s *store) webURL(path, title, id string) string {
	if b := s.webBase.Load(); b != nil && *b != "" {
		return *b + path
	}
	return notionURL(title, id)
}

func notionURL(title, id string) string {
	slug := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, title)
	slug = strings.Trim(slug, "-")
	compact := strings.ReplaceAll(id, "-", "")
	if slug == "" {
		return "https://www.notion.so/" + compact
	}
	return "https://www.notion.so/" + url.PathEscape(slug) + "-" + compact
}

// --- rendering ---

func (s *store) renderDatabase(d *database) map[string]any {
	refs := []any{}
	for _, id := range d.DataSources {
		if ds := s.sources[id]; ds != nil {
			refs = append(refs, map[string]any{"id": id, "name": plainText(ds.Title)})
		}
	}
	bot := s.botUser()
	return map[string]any{
		"object": "database", "id": d.ID, "title": d.Title, "description": d.Description,
		"icon": d.Icon, "cover": d.Cover, "parent": map[string]any{"type": "page_id", "page_id": d.ParentPage},
		"is_inline": d.IsInline, "in_trash": d.InTrash, "archived": d.InTrash, "is_locked": false,
		"created_time": notionTime(d.Created), "last_edited_time": notionTime(d.Edited),
		"created_by": bot, "last_edited_by": bot, "data_sources": refs,
		"url": s.webURL("/databases/"+d.ID, plainText(d.Title), d.ID), "public_url": nil,
	}
}

func renderProperty(p *property) map[string]any {
	m := map[string]any{"id": url.PathEscape(p.ID), "name": p.Name, "type": p.Type, p.Type: p.Config}
	if p.ID == "title" {
		m["id"] = "title"
	}
	if p.Description != "" {
		m["description"] = p.Description
	}
	return m
}

func (s *store) renderDataSource(ds *dataSource) map[string]any {
	props := map[string]any{}
	for _, p := range ds.Props {
		props[p.Name] = renderProperty(p)
	}
	d := s.databases[ds.Database]
	bot := s.botUser()
	return map[string]any{
		"object": "data_source", "id": ds.ID, "title": ds.Title, "description": []any{},
		"icon": d.Icon, "cover": d.Cover,
		"parent":          map[string]any{"type": "database_id", "database_id": ds.Database},
		"database_parent": map[string]any{"type": "page_id", "page_id": d.ParentPage},
		"is_inline":       d.IsInline, "in_trash": ds.InTrash || d.InTrash, "archived": ds.InTrash || d.InTrash,
		"created_time": notionTime(ds.Created), "last_edited_time": notionTime(ds.Edited),
		"created_by": bot, "last_edited_by": bot, "properties": props,
		"url": s.webURL("/databases/"+ds.Database, plainText(ds.Title), ds.ID), "public_url": nil,
	}
}

func (s *store) renderPage(p *page) map[string]any {
	ds := s.sources[p.DataSource]
	props := map[string]any{}
	title := ""
	bot := s.botUser()
	for _, prop := range ds.Props {
		v, ok := p.Props[prop.ID]
		switch prop.Type {
		case "created_time":
			v, ok = notionTime(p.Created), true
		case "last_edited_time":
			v, ok = notionTime(p.Edited), true
		case "created_by", "last_edited_by":
			v, ok = bot, true
		}
		if !ok {
			v = emptyValue(prop.Type)
		}
		pv := map[string]any{"id": url.PathEscape(prop.ID), "type": prop.Type, prop.Type: v}
		if prop.ID == "title" {
			pv["id"] = "title"
			title = plainText(v)
		}
		if prop.Type == "relation" {
			pv["has_more"] = false
		}
		props[prop.Name] = pv
	}
	return map[string]any{
		"object": "page", "id": p.ID,
		"created_time": notionTime(p.Created), "last_edited_time": notionTime(p.Edited),
		"created_by": bot, "last_edited_by": bot, "cover": p.Cover, "icon": p.Icon,
		"parent":   map[string]any{"type": "data_source_id", "data_source_id": p.DataSource, "database_id": ds.Database},
		"archived": p.InTrash, "in_trash": p.InTrash, "is_locked": false, "properties": props,
		"url": s.webURL("/pages/"+p.ID, title, p.ID), "public_url": nil,
	}
}

func (s *store) renderWorkspacePage(w *workspacePage) map[string]any {
	bot := s.botUser()
	t := []any{map[string]any{"type": "text", "text": map[string]any{"content": w.Title, "link": nil},
		"annotations": defaultAnnotations(), "plain_text": w.Title, "href": nil}}
	return map[string]any{
		"object": "page", "id": w.ID, "created_time": notionTime(w.Created), "last_edited_time": notionTime(w.Created),
		"created_by": bot, "last_edited_by": bot, "cover": nil, "icon": nil,
		"parent": map[string]any{"type": "workspace", "workspace": true}, "archived": false, "in_trash": false, "is_locked": false,
		"properties": map[string]any{"title": map[string]any{"id": "title", "type": "title", "title": t}},
		"url":        s.webURL("/", w.Title, w.ID), "public_url": nil,
	}
}

// --- shared request pieces ---

func (s *store) parentPage(id string) *workspacePage {
	w := s.wsPages[id]
	if w == nil {
		// A well-formed page id the emulator has not seen is a page of the
		// workspace shared with the integration: a local stack needs no
		// set-up step.
		w = &workspacePage{ID: id, Title: "Synced databases", Created: time.Now()}
		s.wsPages[id] = w
		s.persist("ws", w)
	}
	return w
}

func icon(path string, v any, emojiOK bool) (any, *apiError) {
	if v == nil {
		return nil, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, validationf("body failed validation: %s should be an object or `null`.", path)
	}
	typ := schemaType(m, []string{"emoji", "external"})
	switch typ {
	case "emoji":
		e, _ := m["emoji"].(string)
		if !emojiOK || e == "" || textLen(e) > 16 {
			return nil, validationf("body failed validation: %s.emoji should be an emoji, instead was `%s`.", path, jsonShort(m["emoji"]))
		}
		return map[string]any{"type": "emoji", "emoji": e}, nil
	case "external":
		ext, _ := m["external"].(map[string]any)
		u, _ := ext["url"].(string)
		if !validURL(u) || textLen(u) > maxURLLen {
			return nil, validationf("body failed validation: %s.external.url should be a URL, instead was `%s`.", path, jsonShort(ext["url"]))
		}
		return map[string]any{"type": "external", "external": map[string]any{"url": u}}, nil
	}
	return nil, validationf("body failed validation: %s.type should be `emoji` or `external`, instead was `%s`.", path, typ)
}

func titleArg(r *request, key string) ([]any, bool, *apiError) {
	v, ok := r.body[key]
	if !ok {
		return nil, false, nil
	}
	t, err := richText(v, "body."+key)
	return t, true, err
}

// --- databases ---

func (s *Server) createDatabase(r *request) (map[string]any, string, *apiError) {
	st := s.store
	parent, _ := r.body["parent"].(map[string]any)
	pidv, _ := parent["page_id"].(string)
	pid, ok := normalizeID(pidv)
	if !ok {
		return nil, "", validationf("body failed validation: body.parent.page_id should be a valid uuid, instead was `%s`.", jsonShort(parent["page_id"]))
	}
	if _, ok := r.body["properties"]; ok {
		return nil, "", validationf("body failed validation: body.properties should be not present: since version %s a database's properties go in body.initial_data_source.properties.", Version)
	}
	title, _, err := titleArg(r, "title")
	if err != nil {
		return nil, "", err
	}
	if title == nil {
		title = []any{}
	}
	desc, _, err := titleArg(r, "description")
	if err != nil {
		return nil, "", err
	}
	if desc == nil {
		desc = []any{}
	}
	ic, err := icon("body.icon", r.body["icon"], true)
	if err != nil {
		return nil, "", err
	}
	cover, err := icon("body.cover", r.body["cover"], false)
	if err != nil {
		return nil, "", err
	}
	inline, _ := r.body["is_inline"].(bool)
	initial, _ := r.body["initial_data_source"].(map[string]any)
	reqProps, _ := initial["properties"].(map[string]any)

	st.mu.Lock()
	defer st.mu.Unlock()
	now := time.Now()
	d := &database{ID: newID(), ParentPage: pid, Title: title, Description: desc, Icon: ic, Cover: cover, IsInline: inline, Created: now, Edited: now}
	ds := &dataSource{ID: newID(), Database: d.ID, Title: title, Created: now, Edited: now}
	st.databases[d.ID] = d // for relations to itself; removed on error
	defer func() {
		if err != nil {
			delete(st.databases, d.ID)
		}
	}()
	var titles int
	names := make([]string, 0, len(reqProps))
	for name := range reqProps {
		names = append(names, name)
	}
	sort.Strings(names) // deterministic ids and order
	var duals []*property
	for _, name := range names {
		pm, ok := reqProps[name].(map[string]any)
		path := "body.initial_data_source.properties." + name
		if !ok {
			err = validationf("body failed validation: %s should be an object.", path)
			return nil, "", err
		}
		var p *property
		if p, err = st.buildProperty(path, name, pm, nil, ds); err != nil {
			return nil, "", err
		}
		if p.Type == "title" {
			titles++
		}
		if p.Type == "relation" && p.Config["type"] == "dual_property" {
			duals = append(duals, p)
		}
		ds.Props = append(ds.Props, p)
	}
	if titles != 1 {
		err = validationf("body failed validation: body.initial_data_source.properties should have exactly one title property, instead had %d.", titles)
		return nil, "", err
	}
	st.parentPage(pid)
	d.DataSources = []string{ds.ID}
	st.sources[ds.ID] = ds
	for _, p := range duals {
		st.addSyncedProperty(ds, p)
	}
	st.persist("db", d)
	st.persist("ds", ds)
	if ferr := st.flush(); ferr != nil {
		s.log.Error("emulator: data log", "err", ferr)
	}
	return st.renderDatabase(d), d.ID, nil
}

// addSyncedProperty creates the other side of a dual relation p of ds.
func (st *store) addSyncedProperty(ds *dataSource, p *property) {
	target := st.sources[p.Config["data_source_id"].(string)]
	dual := p.Config["dual_property"].(map[string]any)
	name, _ := dual["synced_property_name"].(string)
	if name == "" {
		name = "Related to " + plainText(ds.Title) + " (" + p.Name + ")"
	}
	base := name
	for i := 2; target.prop(name) != nil; i++ {
		name = base + " (" + itoa(i) + ")"
	}
	other := &property{ID: propertyID(), Name: name, Type: "relation", Config: map[string]any{
		"data_source_id": ds.ID, "database_id": ds.Database, "type": "dual_property",
		"dual_property": map[string]any{"synced_property_name": p.Name, "synced_property_id": p.ID},
	}}
	target.Props = append(target.Props, other)
	p.Config["dual_property"] = map[string]any{"synced_property_name": name, "synced_property_id": other.ID}
	if target != ds {
		st.persist("ds", target)
	}
}

func (s *Server) getDatabase(r *request) (map[string]any, string, *apiError) {
	id, err := pathID(r, "database")
	if err != nil {
		return nil, "", err
	}
	s.store.mu.RLock()
	defer s.store.mu.RUnlock()
	d := s.store.databases[id]
	if d == nil {
		return nil, "", notFound("database", id)
	}
	return s.store.renderDatabase(d), "", nil
}

func (s *Server) updateDatabase(r *request) (map[string]any, string, *apiError) {
	id, err := pathID(r, "database")
	if err != nil {
		return nil, "", err
	}
	if _, ok := r.body["properties"]; ok {
		return nil, "", validationf("body failed validation: body.properties should be not present: since version %s properties are updated on the data source (PATCH /v1/data_sources/{id}).", Version)
	}
	title, setTitle, err := titleArg(r, "title")
	if err != nil {
		return nil, "", err
	}
	desc, setDesc, err := titleArg(r, "description")
	if err != nil {
		return nil, "", err
	}
	ic, err := icon("body.icon", r.body["icon"], true)
	if err != nil {
		return nil, "", err
	}
	cover, err := icon("body.cover", r.body["cover"], false)
	if err != nil {
		return nil, "", err
	}
	st := s.store
	st.mu.Lock()
	defer st.mu.Unlock()
	d := st.databases[id]
	if d == nil {
		return nil, "", notFound("database", id)
	}
	if setTitle {
		d.Title = title
	}
	if setDesc {
		d.Description = desc
	}
	if _, ok := r.body["icon"]; ok {
		d.Icon = ic
	}
	if _, ok := r.body["cover"]; ok {
		d.Cover = cover
	}
	if v, ok := r.body["is_inline"].(bool); ok {
		d.IsInline = v
	}
	if v, ok := trashArg(r); ok {
		d.InTrash = v
	}
	d.Edited = time.Now()
	st.persist("db", d)
	st.flush()
	return st.renderDatabase(d), d.ID, nil
}

func trashArg(r *request) (bool, bool) {
	for _, k := range []string{"in_trash", "archived"} {
		if v, ok := r.body[k].(bool); ok {
			return v, true
		}
	}
	return false, false
}

// --- data sources ---

// createDataSource adds a data source to a database (POST /v1/data_sources,
// parent {type: database_id}), as people do when a database holds several
// tables.
func (s *Server) createDataSource(r *request) (map[string]any, string, *apiError) {
	parent, _ := r.body["parent"].(map[string]any)
	didv, _ := parent["database_id"].(string)
	did, ok := normalizeID(didv)
	if !ok {
		return nil, "", validationf("body failed validation: body.parent.database_id should be a valid uuid, instead was `%s`.", jsonShort(parent["database_id"]))
	}
	title, _, err := titleArg(r, "title")
	if err != nil {
		return nil, "", err
	}
	if title == nil {
		title = []any{}
	}
	reqProps, _ := r.body["properties"].(map[string]any)
	st := s.store
	st.mu.Lock()
	defer st.mu.Unlock()
	d := st.databases[did]
	if d == nil {
		return nil, "", notFound("database", did)
	}
	now := time.Now()
	ds := &dataSource{ID: newID(), Database: d.ID, Title: title, Created: now, Edited: now}
	names := make([]string, 0, len(reqProps))
	for name := range reqProps {
		names = append(names, name)
	}
	sort.Strings(names)
	titles := 0
	for _, name := range names {
		pm, ok := reqProps[name].(map[string]any)
		path := "body.properties." + name
		if !ok {
			return nil, "", validationf("body failed validation: %s should be an object.", path)
		}
		p, err := st.buildProperty(path, name, pm, nil, ds)
		if err != nil {
			return nil, "", err
		}
		if p.Type == "title" {
			titles++
		}
		ds.Props = append(ds.Props, p)
	}
	if titles != 1 {
		return nil, "", validationf("body failed validation: body.properties should have exactly one title property, instead had %d.", titles)
	}
	d.DataSources = append(d.DataSources, ds.ID)
	st.sources[ds.ID] = ds
	st.persist("db", d)
	st.persist("ds", ds)
	if ferr := st.flush(); ferr != nil {
		s.log.Error("emulator: data log", "err", ferr)
	}
	return st.renderDataSource(ds), ds.ID, nil
}

func (s *Server) getDataSource(r *request) (map[string]any, string, *apiError) {
	id, err := pathID(r, "data_source")
	if err != nil {
		return nil, "", err
	}
	s.store.mu.RLock()
	defer s.store.mu.RUnlock()
	ds := s.store.sources[id]
	if ds == nil {
		return nil, "", notFound("data_source", id)
	}
	return s.store.renderDataSource(ds), "", nil
}

func (s *Server) updateDataSource(r *request) (map[string]any, string, *apiError) {
	id, err := pathID(r, "data_source")
	if err != nil {
		return nil, "", err
	}
	title, setTitle, err := titleArg(r, "title")
	if err != nil {
		return nil, "", err
	}
	reqProps, _ := r.body["properties"].(map[string]any)
	if v, ok := r.body["properties"]; ok && v != nil && reqProps == nil {
		return nil, "", validationf("body failed validation: body.properties should be an object.")
	}
	st := s.store
	st.mu.Lock()
	defer st.mu.Unlock()
	ds := st.sources[id]
	if ds == nil {
		return nil, "", notFound("data_source", id)
	}
	// Work on a copy so a refused request changes nothing.
	props := make([]*property, len(ds.Props))
	for i, p := range ds.Props {
		cp := *p
		props[i] = &cp
	}
	work := &dataSource{ID: ds.ID, Database: ds.Database, Title: ds.Title, Props: props}
	keys := make([]string, 0, len(reqProps))
	for k := range reqProps {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var removed, duals []*property
	cleared := map[string]bool{}
	for _, key := range keys {
		path := "body.properties." + key
		old := work.prop(key)
		if reqProps[key] == nil {
			if old == nil {
				return nil, "", validationf("%s is not a property that exists.", key)
			}
			if old.Type == "title" {
				return nil, "", validationf("Cannot delete the title property %s: a data source needs one.", key)
			}
			work.Props = slices.DeleteFunc(work.Props, func(p *property) bool { return p == old })
			removed = append(removed, old)
			continue
		}
		pm, ok := reqProps[key].(map[string]any)
		if !ok {
			return nil, "", validationf("body failed validation: %s should be an object or `null`.", path)
		}
		name := key
		if old != nil {
			name = old.Name
		}
		if n, ok := pm["name"].(string); ok && n != "" {
			if other := work.prop(n); other != nil && other != old {
				return nil, "", validationf("body failed validation: %s.name: a property named %s already exists.", path, n)
			}
			name = n
		}
		p, err := st.buildProperty(path, name, pm, old, work)
		if err != nil {
			return nil, "", err
		}
		if old == nil {
			if p.Type == "title" {
				return nil, "", validationf("Cannot create a second title property %s: a data source has exactly one.", key)
			}
			work.Props = append(work.Props, p)
		} else {
			if (old.Type == "title") != (p.Type == "title") {
				return nil, "", validationf("Cannot change the type of %s to or from title.", key)
			}
			if old.Type != p.Type {
				cleared[p.ID] = true
			}
			i := slices.Index(work.Props, old)
			work.Props[i] = p
		}
		if p.Type == "relation" && p.Config["type"] == "dual_property" {
			if d := p.Config["dual_property"].(map[string]any); d["synced_property_id"] == "" {
				duals = append(duals, p)
			}
		}
	}
	now := time.Now()
	ds.Props = work.Props
	if setTitle {
		ds.Title = title
	}
	if v, ok := trashArg(r); ok {
		ds.InTrash = v
	}
	for _, p := range removed {
		// Removing one side of a dual relation removes the other, as in Notion.
		if p.Type == "relation" && p.Config["type"] == "dual_property" {
			d := p.Config["dual_property"].(map[string]any)
			if t := st.sources[p.Config["data_source_id"].(string)]; t != nil {
				sid, _ := d["synced_property_id"].(string)
				t.Props = slices.DeleteFunc(t.Props, func(q *property) bool { return q.ID == sid })
				if t != ds {
					st.persist("ds", t)
				}
			}
		}
		cleared[p.ID] = true
	}
	for _, p := range duals {
		st.addSyncedProperty(ds, p)
	}
	if len(cleared) > 0 {
		for _, pg := range st.pages {
			if pg.DataSource != ds.ID {
				continue
			}
			dirty := false
			for pid := range cleared {
				if _, ok := pg.Props[pid]; ok {
					delete(pg.Props, pid)
					dirty = true
				}
			}
			if dirty {
				st.persist("page", pg)
			}
		}
	}
	ds.Edited = now
	st.persist("ds", ds)
	st.flush()
	return st.renderDataSource(ds), ds.ID, nil
}

// --- pages ---

// setProps validates request property values and returns them by
// property id, without changing anything.
func (st *store) setProps(ds *dataSource, v any) (map[string]any, *apiError) {
	if v == nil {
		return nil, nil
	}
	reqProps, ok := v.(map[string]any)
	if !ok {
		return nil, validationf("body failed validation: body.properties should be an object.")
	}
	out := make(map[string]any, len(reqProps))
	for key, val := range reqProps {
		p := ds.prop(key)
		if p == nil {
			return nil, validationf("%s is not a property that exists.", key)
		}
		rv, err := st.buildValue("body.properties."+key, p, val)
		if err != nil {
			return nil, err
		}
		out[p.ID] = rv
	}
	return out, nil
}

func relationIDs(v any) []string {
	l, _ := v.([]any)
	ids := make([]string, 0, len(l))
	for _, it := range l {
		if m, ok := it.(map[string]any); ok {
			if id, ok := m["id"].(string); ok {
				ids = append(ids, id)
			}
		}
	}
	return ids
}

// writeProps stores values on pg and keeps the other side of dual
// relations in step.
func (st *store) writeProps(ds *dataSource, pg *page, vals map[string]any) {
	st.unindexTitle(pg)
	defer st.indexTitle(pg)
	for pid, v := range vals {
		var prop *property
		for _, p := range ds.Props {
			if p.ID == pid {
				prop = p
			}
		}
		old := relationIDs(pg.Props[pid])
		pg.Props[pid] = v
		if l, ok := v.([]any); ok && prop != nil && (prop.Type == "title" || prop.Type == "rich_text") {
			if pg.text == nil {
				pg.text = map[string]string{}
			}
			pg.text[pid] = plainText(l)
		}
		if prop == nil || prop.Type != "relation" || prop.Config["type"] != "dual_property" {
			continue
		}
		synced, _ := prop.Config["dual_property"].(map[string]any)["synced_property_id"].(string)
		now := relationIDs(v)
		for _, id := range now {
			if other := st.pages[id]; other != nil && !slices.Contains(relationIDs(other.Props[synced]), pg.ID) {
				l, _ := other.Props[synced].([]any)
				other.Props[synced] = append(slices.Clone(l), map[string]any{"id": pg.ID})
				st.persist("page", other)
			}
		}
		for _, id := range old {
			if slices.Contains(now, id) {
				continue
			}
			if other := st.pages[id]; other != nil {
				l, _ := other.Props[synced].([]any)
				other.Props[synced] = slices.DeleteFunc(slices.Clone(l), func(x any) bool {
					m, _ := x.(map[string]any)
					return m["id"] == pg.ID
				})
				st.persist("page", other)
			}
		}
	}
}

func (s *Server) createPage(r *request) (map[string]any, string, *apiError) {
	parent, _ := r.body["parent"].(map[string]any)
	if parent == nil {
		return nil, "", validationf("body failed validation: body.parent should be defined, instead was `undefined`.")
	}
	ic, err := icon("body.icon", r.body["icon"], true)
	if err != nil {
		return nil, "", err
	}
	cover, err := icon("body.cover", r.body["cover"], false)
	if err != nil {
		return nil, "", err
	}
	st := s.store
	st.mu.Lock()
	defer st.mu.Unlock()
	var ds *dataSource
	switch {
	case parent["data_source_id"] != nil:
		raw, _ := parent["data_source_id"].(string)
		id, ok := normalizeID(raw)
		if !ok {
			return nil, "", validationf("body failed validation: body.parent.data_source_id should be a valid uuid, instead was `%s`.", jsonShort(parent["data_source_id"]))
		}
		if ds = st.sources[id]; ds == nil {
			return nil, "", notFound("data_source", raw)
		}
	case parent["database_id"] != nil:
		raw, _ := parent["database_id"].(string)
		id, ok := normalizeID(raw)
		if !ok {
			return nil, "", validationf("body failed validation: body.parent.database_id should be a valid uuid, instead was `%s`.", jsonShort(parent["database_id"]))
		}
		d := st.databases[id]
		if d == nil {
			return nil, "", notFound("database", raw)
		}
		if len(d.DataSources) != 1 {
			return nil, "", validationf("Database %s has %d data sources: name one with parent.data_source_id.", raw, len(d.DataSources))
		}
		ds = st.sources[d.DataSources[0]]
	default:
		return nil, "", validationf("body failed validation: body.parent should have a data_source_id (the emulator creates pages in data sources only).")
	}
	if ds.InTrash || st.databases[ds.Database].InTrash {
		return nil, "", validationf("Can't edit block that is archived. You must unarchive the block before editing.")
	}
	vals, err := st.setProps(ds, r.body["properties"])
	if err != nil {
		return nil, "", err
	}
	var kids []*newBlock
	if v, ok := r.body["children"]; ok {
		count := 0
		if kids, err = blockArgs(v, "body.children", 1, &count, "", 0); err != nil {
			return nil, "", err
		}
	}
	now := time.Now()
	st.seq++
	pg := &page{ID: newID(), DataSource: ds.ID, Props: map[string]any{}, Icon: ic, Cover: cover, Created: now, Edited: now, Seq: st.seq}
	st.addPage(pg)
	st.writeProps(ds, pg, vals)
	if len(kids) > 0 {
		st.insertBlocks(pg.ID, "page_id", "", kids, now)
	}
	st.persist("page", pg)
	st.persist("ds", ds) // select options may have been added
	st.flush()
	return st.renderPage(pg), pg.ID, nil
}

func (s *Server) getPage(r *request) (map[string]any, string, *apiError) {
	id, err := pathID(r, "page")
	if err != nil {
		return nil, "", err
	}
	s.store.mu.RLock()
	defer s.store.mu.RUnlock()
	if pg := s.store.pages[id]; pg != nil {
		return s.store.renderPage(pg), "", nil
	}
	if w := s.store.wsPages[id]; w != nil {
		return s.store.renderWorkspacePage(w), "", nil
	}
	return nil, "", notFound("page", id)
}

func (s *Server) updatePage(r *request) (map[string]any, string, *apiError) {
	id, err := pathID(r, "page")
	if err != nil {
		return nil, "", err
	}
	ic, err := icon("body.icon", r.body["icon"], true)
	if err != nil {
		return nil, "", err
	}
	cover, err := icon("body.cover", r.body["cover"], false)
	if err != nil {
		return nil, "", err
	}
	st := s.store
	st.mu.Lock()
	defer st.mu.Unlock()
	pg := st.pages[id]
	if pg == nil {
		return nil, "", notFound("page", id)
	}
	ds := st.sources[pg.DataSource]
	trash, setTrash := trashArg(r)
	_, setProps := r.body["properties"]
	_, setIcon := r.body["icon"]
	_, setCover := r.body["cover"]
	if pg.InTrash && (!setTrash || trash) && (setProps || setIcon || setCover) {
		return nil, "", validationf("Can't edit block that is archived. You must unarchive the block before editing.")
	}
	vals, err := st.setProps(ds, r.body["properties"])
	if err != nil {
		return nil, "", err
	}
	st.writeProps(ds, pg, vals)
	if setIcon {
		pg.Icon = ic
	}
	if setCover {
		pg.Cover = cover
	}
	if setTrash {
		pg.InTrash = trash
	}
	pg.Edited = time.Now()
	st.persist("page", pg)
	if len(vals) > 0 {
		st.persist("ds", ds)
	}
	st.flush()
	return st.renderPage(pg), pg.ID, nil
}

// --- users ---

func (s *Server) listUsers(r *request) (map[string]any, string, *apiError) {
	size, cursor, err := paging(r)
	if err != nil {
		return nil, "", err
	}
	ids := make([]string, len(s.store.users))
	byID := map[string]User{}
	for i, u := range s.store.users {
		ids[i], _ = normalizeID(u.ID)
		byID[ids[i]] = u
	}
	pageIDs, next, err := paginate(ids, cursor, size)
	if err != nil {
		return nil, "", err
	}
	results := make([]any, len(pageIDs))
	for i, id := range pageIDs {
		results[i] = userObject(byID[id])
	}
	return list(results, next, "user"), "", nil
}

func (s *Server) me(r *request) (map[string]any, string, *apiError) {
	for _, u := range s.store.users {
		if u.Bot {
			return userObject(u), "", nil
		}
	}
	return userObject(User{ID: "00000000-0000-4000-8000-000000000b07", Name: "synq emulator", Bot: true}), "", nil
}

func (s *Server) getUser(r *request) (map[string]any, string, *apiError) {
	id, err := pathID(r, "user")
	if err != nil {
		return nil, "", err
	}
	if u := s.store.user(id); u != nil {
		return userObject(*u), "", nil
	}
	return nil, "", notFound("user", id)
}
