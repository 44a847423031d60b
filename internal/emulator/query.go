package emulator

import (
	"cmp"
	"slices"
	"strings"
	"time"
)

// matcher decides whether a page passes a filter.
type matcher func(*page) bool

var conditionsByType = map[string][]string{
	"title":        {"equals", "does_not_equal", "contains", "does_not_contain", "starts_with", "ends_with", "is_empty", "is_not_empty"},
	"number":       {"equals", "does_not_equal", "greater_than", "less_than", "greater_than_or_equal_to", "less_than_or_equal_to", "is_empty", "is_not_empty"},
	"checkbox":     {"equals", "does_not_equal"},
	"select":       {"equals", "does_not_equal", "is_empty", "is_not_empty"},
	"multi_select": {"contains", "does_not_contain", "is_empty", "is_not_empty"},
	"date":         {"equals", "before", "after", "on_or_before", "on_or_after", "is_empty", "is_not_empty"},
}

// filterKind maps a property type to the filter family it uses.
func filterKind(typ string) string {
	switch typ {
	case "title", "rich_text", "url", "email", "phone_number":
		return "title"
	case "status", "select":
		return "select"
	case "multi_select", "people", "relation":
		return "multi_select"
	case "date", "created_time", "last_edited_time":
		return "date"
	}
	return typ
}

// compileFilter turns a request filter into a matcher. Compound filters
// nest like Notion's: and/or lists of filters.
func (st *store) compileFilter(ds *dataSource, v any, path string, depth int) (matcher, *apiError) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, validationf("body failed validation: %s should be an object.", path)
	}
	for _, op := range []string{"and", "or"} {
		raw, ok := m[op]
		if !ok {
			continue
		}
		if depth >= 2 {
			return nil, validationf("body failed validation: %s: compound filters nest two levels deep at most.", path)
		}
		l, ok := raw.([]any)
		if !ok {
			return nil, validationf("body failed validation: %s.%s should be an array.", path, op)
		}
		if len(l) > 100 {
			return nil, validationf("body failed validation: %s.%s.length should be ≤ `100`.", path, op)
		}
		subs := make([]matcher, len(l))
		for i, f := range l {
			var err *apiError
			if subs[i], err = st.compileFilter(ds, f, path+"."+op+"["+itoa(i)+"]", depth+1); err != nil {
				return nil, err
			}
		}
		if op == "and" {
			return func(p *page) bool {
				for _, s := range subs {
					if !s(p) {
						return false
					}
				}
				return true
			}, nil
		}
		return func(p *page) bool {
			for _, s := range subs {
				if s(p) {
					return true
				}
			}
			return false
		}, nil
	}
	if ts, ok := m["timestamp"].(string); ok {
		if ts != "created_time" && ts != "last_edited_time" {
			return nil, validationf("body failed validation: %s.timestamp should be `created_time` or `last_edited_time`, instead was `%s`.", path, ts)
		}
		cond, _ := m[ts].(map[string]any)
		get := func(p *page) any {
			if ts == "created_time" {
				return notionTime(p.Created)
			}
			return notionTime(p.Edited)
		}
		return compileCondition("date", ts, cond, path+"."+ts, get, nil)
	}
	name, ok := m["property"].(string)
	if !ok {
		return nil, validationf("body failed validation: %s should have `property`, `timestamp`, `and` or `or`.", path)
	}
	prop := ds.prop(name)
	if prop == nil {
		return nil, validationf("Could not find property with name or id: %s", name)
	}
	var key string
	for k := range m {
		if k != "property" && k != "type" {
			key = k
		}
	}
	if key == "" {
		return nil, validationf("body failed validation: %s should have a condition keyed by the property type `%s`.", path, prop.Type)
	}
	if filterKind(key) != filterKind(prop.Type) && !(key == "rich_text" && filterKind(prop.Type) == "title") {
		return nil, validationf("body failed validation: %s: property %s is of type %s, the filter is for %s.", path, name, prop.Type, key)
	}
	cond, ok := m[key].(map[string]any)
	if !ok {
		return nil, validationf("body failed validation: %s.%s should be an object.", path, key)
	}
	pid := prop.ID
	get := func(p *page) any {
		switch prop.Type {
		case "created_time":
			return notionTime(p.Created)
		case "last_edited_time":
			return notionTime(p.Edited)
		}
		v, ok := p.Props[pid]
		if !ok {
			return emptyValue(prop.Type)
		}
		return v
	}
	var getText func(*page) string
	if prop.Type == "title" || prop.Type == "rich_text" {
		getText = func(p *page) string { return p.text[pid] }
	}
	return compileCondition(filterKind(prop.Type), prop.Type, cond, path+"."+key, get, getText)
}

func compileCondition(kind, typ string, cond map[string]any, path string, get func(*page) any, getText func(*page) string) (matcher, *apiError) {
	if len(cond) != 1 {
		return nil, validationf("body failed validation: %s should have exactly one condition (%s).", path, strings.Join(conditionsByType[kind], ", "))
	}
	var op string
	var arg any
	for k, v := range cond {
		op, arg = k, v
	}
	if !slices.Contains(conditionsByType[kind], op) {
		return nil, validationf("body failed validation: %s.%s is not a %s condition: use one of %s.", path, op, typ, strings.Join(conditionsByType[kind], ", "))
	}
	bad := func(want string) *apiError {
		return validationf("body failed validation: %s.%s should be %s, instead was `%s`.", path, op, want, jsonShort(arg))
	}
	if op == "is_empty" || op == "is_not_empty" {
		if arg != true {
			return nil, bad("`true`")
		}
		want := op == "is_empty"
		return func(p *page) bool { return isEmpty(get(p)) == want }, nil
	}
	switch kind {
	case "title":
		s, ok := arg.(string)
		if !ok {
			return nil, bad("a string")
		}
		text := getText
		if text == nil {
			text = func(p *page) string {
				v := get(p)
				if sv, ok := v.(string); ok {
					return sv
				}
				return plainText(v)
			}
		}
		switch op {
		case "equals":
			return func(p *page) bool { return text(p) == s }, nil
		case "does_not_equal":
			return func(p *page) bool { return text(p) != s }, nil
		case "contains":
			ls := strings.ToLower(s)
			return func(p *page) bool { return strings.Contains(strings.ToLower(text(p)), ls) }, nil
		case "does_not_contain":
			ls := strings.ToLower(s)
			return func(p *page) bool { return !strings.Contains(strings.ToLower(text(p)), ls) }, nil
		case "starts_with":
			return func(p *page) bool { return strings.HasPrefix(text(p), s) }, nil
		case "ends_with":
			return func(p *page) bool { return strings.HasSuffix(text(p), s) }, nil
		}
	case "number":
		n, ok := arg.(float64)
		if !ok {
			return nil, bad("a number")
		}
		num := func(p *page) (float64, bool) { v, ok := get(p).(float64); return v, ok }
		cmpf := map[string]func(a float64) bool{
			"equals": func(a float64) bool { return a == n }, "does_not_equal": func(a float64) bool { return a != n },
			"greater_than": func(a float64) bool { return a > n }, "less_than": func(a float64) bool { return a < n },
			"greater_than_or_equal_to": func(a float64) bool { return a >= n }, "less_than_or_equal_to": func(a float64) bool { return a <= n },
		}[op]
		return func(p *page) bool {
			v, ok := num(p)
			if !ok {
				return op == "does_not_equal"
			}
			return cmpf(v)
		}, nil
	case "checkbox":
		b, ok := arg.(bool)
		if !ok {
			return nil, bad("a boolean")
		}
		return func(p *page) bool { v, _ := get(p).(bool); return (v == b) == (op == "equals") }, nil
	case "select":
		s, ok := arg.(string)
		if !ok {
			return nil, bad("a string")
		}
		name := func(p *page) string { m, _ := get(p).(map[string]any); n, _ := m["name"].(string); return n }
		return func(p *page) bool { return (name(p) == s) == (op == "equals") }, nil
	case "multi_select":
		s, ok := arg.(string)
		if !ok {
			return nil, bad("a string")
		}
		if typ == "people" || typ == "relation" {
			if id, ok := normalizeID(s); ok {
				s = id
			}
		}
		has := func(p *page) bool {
			l, _ := get(p).([]any)
			for _, it := range l {
				m, _ := it.(map[string]any)
				if m["name"] == s || m["id"] == s {
					return true
				}
			}
			return false
		}
		return func(p *page) bool { return has(p) == (op == "contains") }, nil
	case "date":
		s, ok := arg.(string)
		if !ok || !validDate(s) {
			return nil, bad("an ISO 8601 date")
		}
		at := parseDate(s)
		dateOnly := len(s) == len("2006-01-02")
		start := func(p *page) (time.Time, bool) {
			v := get(p)
			if m, ok := v.(map[string]any); ok {
				v = m["start"]
			}
			sv, ok := v.(string)
			if !ok {
				return time.Time{}, false
			}
			t := parseDate(sv)
			if dateOnly {
				t = time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
			}
			return t, true
		}
		test := map[string]func(time.Time) bool{
			"equals": func(t time.Time) bool { return t.Equal(at) }, "before": func(t time.Time) bool { return t.Before(at) },
			"after": func(t time.Time) bool { return t.After(at) }, "on_or_before": func(t time.Time) bool { return !t.After(at) },
			"on_or_after": func(t time.Time) bool { return !t.Before(at) },
		}[op]
		return func(p *page) bool { t, ok := start(p); return ok && test(t) }, nil
	}
	return nil, validationf("body failed validation: %s: unsupported condition %s.", path, op)
}

// titleEquals finds a title equals condition that every match must meet
// (the filter itself or a member of its top-level "and"), so the query
// can start from the title index instead of scanning.
func titleEquals(ds *dataSource, f any) (string, bool) {
	m, ok := f.(map[string]any)
	if !ok {
		return "", false
	}
	if and, ok := m["and"].([]any); ok {
		for _, sub := range and {
			if t, ok := titleEquals(ds, sub); ok {
				return t, true
			}
		}
		return "", false
	}
	name, _ := m["property"].(string)
	prop := ds.prop(name)
	if prop == nil || prop.Type != "title" {
		return "", false
	}
	for _, key := range []string{"title", "rich_text"} {
		if c, ok := m[key].(map[string]any); ok && len(c) == 1 {
			if s, ok := c["equals"].(string); ok {
				return s, true
			}
		}
	}
	return "", false
}

func parseDate(s string) time.Time {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04:05.000", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}

func isEmpty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == ""
	case []any:
		return len(x) == 0 || (len(x) > 0 && plainText(x) == "" && isRichText(x))
	case bool:
		return !x
	}
	return false
}

func isRichText(l []any) bool {
	m, ok := l[0].(map[string]any)
	_, has := m["plain_text"]
	return ok && has
}

// sortKey extracts a comparable value of a page for a sort.
func sortValue(p *page, prop *property) (string, float64, bool) {
	v, ok := p.Props[prop.ID]
	if !ok || isEmpty(v) {
		return "", 0, false
	}
	switch x := v.(type) {
	case float64:
		return "", x, true
	case bool:
		if x {
			return "", 1, true
		}
		return "", 0, true
	case []any:
		if isRichText(x) {
			return plainText(x), 0, true
		}
		if m, ok := x[0].(map[string]any); ok {
			n, _ := m["name"].(string)
			return n, 0, true
		}
	case map[string]any:
		if s, ok := x["start"].(string); ok {
			return notionTime(parseDate(s)), 0, true
		}
		if n, ok := x["name"].(string); ok {
			return n, 0, true
		}
	case string:
		return x, 0, true
	}
	return "", 0, true
}

type sorter func(a, b *page) int

func (st *store) compileSorts(ds *dataSource, v any) ([]sorter, *apiError) {
	if v == nil {
		return nil, nil
	}
	l, ok := v.([]any)
	if !ok {
		return nil, validationf("body failed validation: body.sorts should be an array.")
	}
	if len(l) > 100 {
		return nil, validationf("body failed validation: body.sorts.length should be ≤ `100`.")
	}
	var out []sorter
	for i, it := range l {
		path := "body.sorts[" + itoa(i) + "]"
		m, ok := it.(map[string]any)
		if !ok {
			return nil, validationf("body failed validation: %s should be an object.", path)
		}
		dir, _ := m["direction"].(string)
		if dir != "ascending" && dir != "descending" {
			return nil, validationf("body failed validation: %s.direction should be `ascending` or `descending`, instead was `%s`.", path, jsonShort(m["direction"]))
		}
		sign := 1
		if dir == "descending" {
			sign = -1
		}
		if ts, ok := m["timestamp"].(string); ok {
			switch ts {
			case "created_time":
				out = append(out, func(a, b *page) int { return sign * a.Created.Compare(b.Created) })
			case "last_edited_time":
				out = append(out, func(a, b *page) int { return sign * a.Edited.Compare(b.Edited) })
			default:
				return nil, validationf("body failed validation: %s.timestamp should be `created_time` or `last_edited_time`, instead was `%s`.", path, ts)
			}
			continue
		}
		name, _ := m["property"].(string)
		prop := ds.prop(name)
		if prop == nil {
			return nil, validationf("Could not find sort property with name or id: %s", name)
		}
		switch prop.Type {
		case "created_time":
			out = append(out, func(a, b *page) int { return sign * a.Created.Compare(b.Created) })
			continue
		case "last_edited_time":
			out = append(out, func(a, b *page) int { return sign * a.Edited.Compare(b.Edited) })
			continue
		}
		out = append(out, func(a, b *page) int {
			as, an, aok := sortValue(a, prop)
			bs, bn, bok := sortValue(b, prop)
			// Empty values sort last whatever the direction, as in Notion.
			switch {
			case !aok && !bok:
				return 0
			case !aok:
				return 1
			case !bok:
				return -1
			}
			if c := cmp.Compare(an, bn); c != 0 {
				return sign * c
			}
			return sign * strings.Compare(strings.ToLower(as), strings.ToLower(bs))
		})
	}
	return out, nil
}

func (s *Server) queryDataSource(r *request) (map[string]any, string, *apiError) {
	id, err := pathID(r, "data_source")
	if err != nil {
		return nil, "", err
	}
	size, cursor, err := paging(r)
	if err != nil {
		return nil, "", err
	}
	st := s.store
	st.mu.RLock()
	defer st.mu.RUnlock()
	ds := st.sources[id]
	if ds == nil {
		return nil, "", notFound("data_source", id)
	}
	var match matcher
	if f, ok := r.body["filter"]; ok && f != nil {
		if match, err = st.compileFilter(ds, f, "body.filter", 0); err != nil {
			return nil, "", err
		}
	}
	sorts, err := st.compileSorts(ds, r.body["sorts"])
	if err != nil {
		return nil, "", err
	}
	candidates := st.byDS[id]
	if title, ok := titleEquals(ds, r.body["filter"]); ok {
		candidates = st.titles[id][title]
	}
	var rows []*page
	for _, p := range candidates {
		if !p.InTrash && (match == nil || match(p)) {
			rows = append(rows, p)
		}
	}
	slices.SortFunc(rows, func(a, b *page) int {
		for _, s := range sorts {
			if c := s(a, b); c != 0 {
				return c
			}
		}
		return cmp.Compare(a.Seq, b.Seq)
	})
	// A query returns its first QueryResultLimit results at most; every
	// page of a capped query says so (Notion: "any page with
	// request_status.type incomplete means the whole query result was
	// capped"), and the last one has has_more false although rows remain.
	capped := false
	if limit := int(s.queryLimit.Load()); len(rows) > limit {
		rows, capped = rows[:limit], true
	}
	ids := make([]string, len(rows))
	for i, p := range rows {
		ids[i] = p.ID
	}
	pageIDs, next, err := paginate(ids, cursor, size)
	if err != nil {
		return nil, "", err
	}
	results := make([]any, len(pageIDs))
	for i, pid := range pageIDs {
		results[i] = st.renderPage(st.pages[pid])
	}
	resp := list(results, next, "page_or_data_source")
	if capped {
		resp["request_status"] = map[string]any{"type": "incomplete", "incomplete_reason": "query_result_limit_reached"}
	}
	return resp, "", nil
}

func (s *Server) search(r *request) (map[string]any, string, *apiError) {
	size, cursor, err := paging(r)
	if err != nil {
		return nil, "", err
	}
	query, _ := r.body["query"].(string)
	object := ""
	if f, ok := r.body["filter"].(map[string]any); ok {
		if f["property"] != "object" {
			return nil, "", validationf("body failed validation: body.filter.property should be `object`, instead was `%s`.", jsonShort(f["property"]))
		}
		object, _ = f["value"].(string)
		if object != "page" && object != "data_source" {
			return nil, "", validationf("body failed validation: body.filter.value should be `page` or `data_source`, instead was `%s`.", jsonShort(f["value"]))
		}
	}
	asc := false
	if so, ok := r.body["sort"].(map[string]any); ok {
		asc = so["direction"] == "ascending"
	}
	st := s.store
	st.mu.RLock()
	defer st.mu.RUnlock()
	type hit struct {
		id     string
		edited time.Time
		render func() map[string]any
	}
	var hits []hit
	q := strings.ToLower(query)
	matches := func(title string) bool { return q == "" || strings.Contains(strings.ToLower(title), q) }
	if object != "page" {
		for _, ds := range st.sources {
			if !ds.InTrash && !st.databases[ds.Database].InTrash && matches(plainText(ds.Title)) {
				hits = append(hits, hit{ds.ID, ds.Edited, func() map[string]any { return st.renderDataSource(ds) }})
			}
		}
	}
	if object != "data_source" {
		for _, w := range st.wsPages {
			if matches(w.Title) {
				hits = append(hits, hit{w.ID, w.Created, func() map[string]any { return st.renderWorkspacePage(w) }})
			}
		}
		for _, p := range st.pages {
			if p.InTrash {
				continue
			}
			ds := st.sources[p.DataSource]
			tp := ds.titleProp()
			title := ""
			if tp != nil {
				title = plainText(p.Props[tp.ID])
			}
			if matches(title) {
				hits = append(hits, hit{p.ID, p.Edited, func() map[string]any { return st.renderPage(p) }})
			}
		}
	}
	slices.SortFunc(hits, func(a, b hit) int {
		c := a.edited.Compare(b.edited)
		if !asc {
			c = -c
		}
		return cmp.Or(c, strings.Compare(a.id, b.id))
	})
	ids := make([]string, len(hits))
	byID := map[string]hit{}
	for i, h := range hits {
		ids[i] = h.id
		byID[h.id] = h
	}
	pageIDs, next, err := paginate(ids, cursor, size)
	if err != nil {
		return nil, "", err
	}
	results := make([]any, len(pageIDs))
	for i, id := range pageIDs {
		results[i] = byID[id].render()
	}
	return list(results, next, "page_or_data_source"), "", nil
}
