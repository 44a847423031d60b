package emulator

import (
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

var numberFormats = []string{"number", "number_with_commas", "percent", "dollar", "australian_dollar", "canadian_dollar",
	"singapore_dollar", "euro", "pound", "yen", "ruble", "rupee", "won", "yuan", "real", "lira", "rupiah", "franc",
	"hong_kong_dollar", "new_zealand_dollar", "krona", "norwegian_krone", "mexican_peso", "rand", "new_taiwan_dollar",
	"danish_krone", "zloty", "baht", "forint", "koruna", "shekel", "chilean_peso", "philippine_peso", "dirham",
	"colombian_peso", "riyal", "ringgit", "leu", "argentine_peso", "uruguayan_peso", "peruvian_sol"}

var colors = []string{"default", "gray", "brown", "orange", "yellow", "green", "blue", "purple", "pink", "red"}

// readOnlyTypes are computed by Notion: a schema may declare them, a page
// write may not set them.
var readOnlyTypes = []string{"created_time", "created_by", "last_edited_time", "last_edited_by"}

var writableTypes = []string{"title", "rich_text", "number", "select", "multi_select", "status", "date", "people",
	"files", "checkbox", "url", "email", "phone_number", "place", "relation"}

func jsonShort(v any) string {
	if v == nil {
		return "undefined"
	}
	b, _ := json.Marshal(v)
	if len(b) > 60 {
		b = append(b[:57], "..."...)
	}
	return string(b)
}

func itoa(i int) string { return strconv.Itoa(i) }

// schemaType reads the type of a property schema or value object: its
// "type" or else its one type-named key.
func schemaType(m map[string]any, known []string) string {
	if t, ok := m["type"].(string); ok {
		return t
	}
	for _, k := range known {
		if _, ok := m[k]; ok {
			return k
		}
	}
	return ""
}

// buildProperty reads a request property schema into a property; old is
// the property it replaces (nil for a new one), whose ids it keeps.
// sources resolves relation targets. The returned dual, when set, is the
// relation's synced property to create on the related data source.
func (s *store) buildProperty(path, name string, m map[string]any, old *property, self *dataSource) (*property, *apiError) {
	typ := schemaType(m, append(slices.Clone(writableTypes), readOnlyTypes...))
	if typ == "" {
		if old == nil {
			return nil, validationf("body failed validation: %s.type should be defined: name one of the property types.", path)
		}
		typ = old.Type
	}
	p := &property{Name: name, Type: typ, Config: map[string]any{}}
	if d, ok := m["description"].(string); ok {
		p.Description = d
	} else if old != nil {
		p.Description = old.Description
	}
	if old != nil {
		p.ID = old.ID
	} else if typ == "title" {
		p.ID = "title"
	} else {
		p.ID = propertyID()
	}
	cfg, _ := m[typ].(map[string]any)
	if raw, present := m[typ]; present && raw != nil && cfg == nil {
		return nil, validationf("body failed validation: %s.%s should be an object.", path, typ)
	}
	if cfg == nil {
		cfg = map[string]any{}
	}
	switch typ {
	case "title", "rich_text", "date", "people", "files", "checkbox", "url", "email", "phone_number", "place",
		"created_time", "created_by", "last_edited_time", "last_edited_by":
	case "number":
		f := "number"
		if v, ok := cfg["format"]; ok {
			fs, ok := v.(string)
			if !ok || !slices.Contains(numberFormats, fs) {
				return nil, validationf("body failed validation: %s.number.format should be one of %s, instead was `%s`.", path, strings.Join(numberFormats, ", "), jsonShort(v))
			}
			f = fs
		} else if old != nil && old.Type == "number" {
			f, _ = old.Config["format"].(string)
		}
		p.Config["format"] = f
	case "select", "multi_select", "status":
		var oldOpts []any
		if old != nil && old.Type == typ {
			oldOpts, _ = old.Config["options"].([]any)
		}
		reqOpts, given := cfg["options"]
		var opts []any
		if !given && old != nil && old.Type == typ {
			opts = oldOpts
		} else {
			var err *apiError
			if opts, err = buildOptions(path+"."+typ+".options", reqOpts, oldOpts); err != nil {
				return nil, err
			}
		}
		if typ == "status" {
			var oldGroups []any
			if old != nil && old.Type == "status" {
				oldGroups, _ = old.Config["groups"].([]any)
			}
			groups, err := buildGroups(path+".status.groups", cfg["groups"], opts, oldGroups)
			if err != nil {
				return nil, err
			}
			if len(opts) == 0 {
				opts, groups = defaultStatus()
			}
			p.Config["groups"] = groups
		}
		p.Config["options"] = opts
	case "relation":
		idv, _ := cfg["data_source_id"].(string)
		id, ok := normalizeID(idv)
		if !ok {
			return nil, validationf("body failed validation: %s.relation.data_source_id should be a valid uuid, instead was `%s`.", path, jsonShort(cfg["data_source_id"]))
		}
		target := s.sources[id]
		if target == nil && !(self != nil && self.ID == id) {
			return nil, notFound("data source", idv)
		}
		dbID := ""
		if target != nil {
			dbID = target.Database
		} else {
			dbID = self.Database
		}
		rtype, _ := cfg["type"].(string)
		if rtype == "" {
			rtype = "single_property"
			if _, ok := cfg["dual_property"]; ok {
				rtype = "dual_property"
			}
		}
		p.Config["data_source_id"] = id
		p.Config["database_id"] = dbID
		p.Config["type"] = rtype
		switch rtype {
		case "single_property":
			p.Config["single_property"] = map[string]any{}
		case "dual_property":
			dual, _ := cfg["dual_property"].(map[string]any)
			synced, _ := dual["synced_property_name"].(string)
			if old != nil && old.Type == "relation" && old.Config["type"] == "dual_property" && old.Config["data_source_id"] == id {
				p.Config["dual_property"] = old.Config["dual_property"]
			} else {
				p.Config["dual_property"] = map[string]any{"synced_property_name": synced, "synced_property_id": ""}
			}
		default:
			return nil, validationf("body failed validation: %s.relation.type should be `single_property` or `dual_property`, instead was `%s`.", path, rtype)
		}
	default:
		return nil, validationf("body failed validation: %s.type `%s` is not a property type the emulator supports (supported: %s).", path, typ, strings.Join(append(slices.Clone(writableTypes), readOnlyTypes...), ", "))
	}
	return p, nil
}

func buildOptions(path string, v any, old []any) ([]any, *apiError) {
	if v == nil {
		return []any{}, nil
	}
	list, ok := v.([]any)
	if !ok {
		return nil, validationf("body failed validation: %s should be an array.", path)
	}
	out := make([]any, 0, len(list))
	seen := map[string]bool{}
	for i, it := range list {
		ip := path + "[" + itoa(i) + "]"
		m, ok := it.(map[string]any)
		if !ok {
			return nil, validationf("body failed validation: %s should be an object.", ip)
		}
		name, _ := m["name"].(string)
		id, _ := m["id"].(string)
		var prev map[string]any
		for _, o := range old {
			om := o.(map[string]any)
			if (id != "" && om["id"] == id) || (id == "" && om["name"] == name) {
				prev = om
			}
		}
		if name == "" && prev != nil {
			name, _ = prev["name"].(string)
		}
		if name == "" {
			return nil, validationf("body failed validation: %s.name should be defined, instead was `undefined`.", ip)
		}
		if err := checkOptionName(ip+".name", name); err != nil {
			return nil, err
		}
		if seen[name] {
			return nil, validationf("body failed validation: %s: option name `%s` is used twice.", ip, name)
		}
		seen[name] = true
		color := "default"
		if prev != nil {
			color, _ = prev["color"].(string)
		}
		if c, ok := m["color"]; ok {
			cs, _ := c.(string)
			if !slices.Contains(colors, cs) {
				return nil, validationf("body failed validation: %s.color should be one of %s, instead was `%s`.", ip, strings.Join(colors, ", "), jsonShort(c))
			}
			color = cs
		}
		oid := propertyID()
		if prev != nil {
			oid, _ = prev["id"].(string)
		}
		var desc any
		if d, ok := m["description"].(string); ok && d != "" {
			desc = d
		} else if prev != nil {
			desc = prev["description"]
		}
		out = append(out, map[string]any{"id": oid, "name": name, "color": color, "description": desc})
	}
	return out, nil
}

func checkOptionName(path, name string) *apiError {
	if strings.Contains(name, ",") {
		return validationf("body failed validation: %s: option names cannot contain commas, instead was `%s`.", path, name)
	}
	if n := textLen(name); n > maxOptionName {
		return validationf("body failed validation: %s.length should be ≤ `%d`, instead was `%d`.", path, maxOptionName, n)
	}
	return nil
}

func defaultStatus() ([]any, []any) {
	mk := func(name, color string) map[string]any {
		return map[string]any{"id": propertyID(), "name": name, "color": color, "description": nil}
	}
	a, b, c := mk("Not started", "default"), mk("In progress", "blue"), mk("Done", "green")
	groups := []any{
		map[string]any{"id": propertyID(), "name": "To-do", "color": "gray", "option_ids": []any{a["id"]}},
		map[string]any{"id": propertyID(), "name": "In progress", "color": "blue", "option_ids": []any{b["id"]}},
		map[string]any{"id": propertyID(), "name": "Complete", "color": "green", "option_ids": []any{c["id"]}},
	}
	return []any{a, b, c}, groups
}

// buildGroups reads status groups naming their options by id or name;
// options no group names go to the first group, as Notion files new
// options under "To-do".
func buildGroups(path string, v any, opts []any, old []any) ([]any, *apiError) {
	idOf := map[string]string{}
	for _, o := range opts {
		om := o.(map[string]any)
		idOf[om["name"].(string)] = om["id"].(string)
		idOf[om["id"].(string)] = om["id"].(string)
	}
	var groups []any
	if v == nil {
		if len(old) > 0 {
			for _, g := range old {
				gm := g.(map[string]any)
				groups = append(groups, map[string]any{"id": gm["id"], "name": gm["name"], "color": gm["color"], "option_ids": []any{}})
			}
		} else {
			groups = []any{
				map[string]any{"id": propertyID(), "name": "To-do", "color": "gray", "option_ids": []any{}},
				map[string]any{"id": propertyID(), "name": "In progress", "color": "blue", "option_ids": []any{}},
				map[string]any{"id": propertyID(), "name": "Complete", "color": "green", "option_ids": []any{}},
			}
		}
		// Keep options in the group they were in.
		placed := map[string]bool{}
		for gi, g := range old {
			for _, oid := range g.(map[string]any)["option_ids"].([]any) {
				if id, ok := idOf[oid.(string)]; ok && gi < len(groups) {
					gm := groups[gi].(map[string]any)
					gm["option_ids"] = append(gm["option_ids"].([]any), id)
					placed[id] = true
				}
			}
		}
		for _, o := range opts {
			id := o.(map[string]any)["id"].(string)
			if !placed[id] {
				gm := groups[0].(map[string]any)
				gm["option_ids"] = append(gm["option_ids"].([]any), id)
			}
		}
		return groups, nil
	}
	list, ok := v.([]any)
	if !ok {
		return nil, validationf("body failed validation: %s should be an array.", path)
	}
	placed := map[string]bool{}
	for i, g := range list {
		ip := path + "[" + itoa(i) + "]"
		gm, ok := g.(map[string]any)
		if !ok {
			return nil, validationf("body failed validation: %s should be an object.", ip)
		}
		name, _ := gm["name"].(string)
		if name == "" {
			return nil, validationf("body failed validation: %s.name should be defined.", ip)
		}
		color, _ := gm["color"].(string)
		if color == "" {
			color = "default"
		}
		ids := []any{}
		for _, key := range []string{"option_ids", "option_names"} {
			refs, _ := gm[key].([]any)
			for _, r := range refs {
				rs, _ := r.(string)
				id, ok := idOf[rs]
				if !ok {
					return nil, validationf("body failed validation: %s.%s: no status option `%s`.", ip, key, rs)
				}
				if !placed[id] {
					ids = append(ids, id)
					placed[id] = true
				}
			}
		}
		gid, _ := gm["id"].(string)
		if gid == "" {
			gid = propertyID()
		}
		groups = append(groups, map[string]any{"id": gid, "name": name, "color": color, "option_ids": ids})
	}
	if len(groups) == 0 {
		return nil, validationf("body failed validation: %s should have at least one group.", path)
	}
	for _, o := range opts {
		id := o.(map[string]any)["id"].(string)
		if !placed[id] {
			gm := groups[0].(map[string]any)
			gm["option_ids"] = append(gm["option_ids"].([]any), id)
		}
	}
	return groups, nil
}

// emptyValue is a property's value on a page that never set it.
func emptyValue(typ string) any {
	switch typ {
	case "title", "rich_text", "multi_select", "people", "files", "relation":
		return []any{}
	case "checkbox":
		return false
	}
	return nil
}

// buildValue reads a request property value into its response form,
// checking it against the property and Notion's limits. It may add
// options to the property (select, multi_select), as Notion does.
func (s *store) buildValue(path string, p *property, v any) (any, *apiError) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, validationf("body failed validation: %s should be an object, instead was `%s`.", path, jsonShort(v))
	}
	if slices.Contains(readOnlyTypes, p.Type) {
		return nil, validationf("%s is a %s property, which cannot be written: it is computed by Notion.", p.Name, p.Type)
	}
	typ := schemaType(m, writableTypes)
	if typ != p.Type {
		return nil, validationf("%s is expected to be %s.", p.Name, p.Type)
	}
	val, present := m[typ]
	if !present {
		return nil, validationf("body failed validation: %s.%s should be defined, instead was `undefined`.", path, typ)
	}
	vp := path + "." + typ
	array := func() ([]any, *apiError) {
		if val == nil {
			return nil, validationf("body failed validation: %s should be an array, instead was `null`.", vp)
		}
		l, ok := val.([]any)
		if !ok {
			return nil, validationf("body failed validation: %s should be an array, instead was `%s`.", vp, jsonShort(val))
		}
		if len(l) > maxArrayItems {
			return nil, validationf("body failed validation: %s.length should be ≤ `%d`, instead was `%d`.", vp, maxArrayItems, len(l))
		}
		return l, nil
	}
	str := func(limit int) (any, *apiError) {
		if val == nil {
			return nil, nil
		}
		sv, ok := val.(string)
		if !ok {
			return nil, validationf("body failed validation: %s should be a string or `null`, instead was `%s`.", vp, jsonShort(val))
		}
		if n := textLen(sv); n > limit {
			return nil, validationf("body failed validation: %s.length should be ≤ `%d`, instead was `%d`.", vp, limit, n)
		}
		if sv == "" {
			return nil, validationf("body failed validation: %s should be a non-empty string or `null`.", vp)
		}
		return sv, nil
	}
	switch typ {
	case "title", "rich_text":
		if val == nil {
			return nil, validationf("body failed validation: %s should be an array, instead was `null`.", vp)
		}
		rt, err := richText(val, vp)
		if err != nil {
			return nil, err
		}
		return rt, nil
	case "number":
		if val == nil {
			return nil, nil
		}
		n, ok := val.(float64)
		if !ok || math.IsInf(n, 0) || math.IsNaN(n) {
			return nil, validationf("body failed validation: %s should be a number or `null`, instead was `%s`.", vp, jsonShort(val))
		}
		return n, nil
	case "checkbox":
		b, ok := val.(bool)
		if !ok {
			return nil, validationf("body failed validation: %s should be a boolean, instead was `%s`.", vp, jsonShort(val))
		}
		return b, nil
	case "select", "status":
		if val == nil {
			return nil, nil
		}
		return s.option(vp, p, val)
	case "multi_select":
		l, err := array()
		if err != nil {
			return nil, err
		}
		out := make([]any, 0, len(l))
		seen := map[string]bool{}
		for i, it := range l {
			o, err := s.option(vp+"["+itoa(i)+"]", p, it)
			if err != nil {
				return nil, err
			}
			id := o.(map[string]any)["id"].(string)
			if !seen[id] {
				seen[id] = true
				out = append(out, o)
			}
		}
		return out, nil
	case "date":
		if val == nil {
			return nil, nil
		}
		dm, ok := val.(map[string]any)
		if !ok {
			return nil, validationf("body failed validation: %s should be an object or `null`.", vp)
		}
		start, _ := dm["start"].(string)
		if !validDate(start) {
			return nil, validationf("body failed validation: %s.start should be a valid ISO 8601 date string, instead was `%s`.", vp, jsonShort(dm["start"]))
		}
		var end, tz any
		if e, ok := dm["end"].(string); ok {
			if !validDate(e) {
				return nil, validationf("body failed validation: %s.end should be a valid ISO 8601 date string, instead was `%s`.", vp, e)
			}
			end = e
		}
		if z, ok := dm["time_zone"].(string); ok && z != "" {
			if _, err := time.LoadLocation(z); err != nil {
				return nil, validationf("body failed validation: %s.time_zone should be an IANA time zone, instead was `%s`.", vp, z)
			}
			tz = z
		}
		return map[string]any{"start": start, "end": end, "time_zone": tz}, nil
	case "people":
		l, err := array()
		if err != nil {
			return nil, err
		}
		out := make([]any, 0, len(l))
		for i, it := range l {
			um, _ := it.(map[string]any)
			idv, _ := um["id"].(string)
			id, ok := normalizeID(idv)
			u := s.user(id)
			if !ok || u == nil {
				return nil, validationf("body failed validation: %s[%d].id should be the id of a user of the workspace, instead was `%s`.", vp, i, jsonShort(um["id"]))
			}
			out = append(out, userObject(*u))
		}
		return out, nil
	case "files":
		l, err := array()
		if err != nil {
			return nil, err
		}
		out := make([]any, 0, len(l))
		for i, it := range l {
			ip := vp + "[" + itoa(i) + "]"
			fm, _ := it.(map[string]any)
			name, _ := fm["name"].(string)
			if name == "" || textLen(name) > 100 {
				return nil, validationf("body failed validation: %s.name should be 1 to 100 characters, instead was `%s`.", ip, jsonShort(fm["name"]))
			}
			ext, _ := fm["external"].(map[string]any)
			u, _ := ext["url"].(string)
			if u == "" || !validURL(u) || textLen(u) > maxURLLen {
				return nil, validationf("body failed validation: %s.external.url should be a URL of at most %d characters, instead was `%s` (the emulator stores external files only).", ip, maxURLLen, jsonShort(ext["url"]))
			}
			out = append(out, map[string]any{"name": name, "type": "external", "external": map[string]any{"url": u}})
		}
		return out, nil
	case "url":
		return str(maxURLLen)
	case "email":
		return str(maxEmailLen)
	case "phone_number":
		return str(maxPhoneLen)
	case "place":
		if val == nil {
			return nil, nil
		}
		pm, ok := val.(map[string]any)
		if !ok {
			return nil, validationf("body failed validation: %s should be an object or `null`.", vp)
		}
		lat, ok1 := pm["lat"].(float64)
		lon, ok2 := pm["lon"].(float64)
		if !ok1 || !ok2 || lat < -90 || lat > 90 || lon < -180 || lon > 180 {
			return nil, validationf("body failed validation: %s should have a lat in [-90, 90] and a lon in [-180, 180].", vp)
		}
		out := map[string]any{"lat": lat, "lon": lon, "name": nil, "address": nil, "google_place_id": nil}
		for _, k := range []string{"name", "address", "google_place_id"} {
			if sv, ok := pm[k].(string); ok && sv != "" {
				out[k] = sv
			}
		}
		return out, nil
	case "relation":
		l, err := array()
		if err != nil {
			return nil, err
		}
		target, _ := p.Config["data_source_id"].(string)
		out := make([]any, 0, len(l))
		seen := map[string]bool{}
		for i, it := range l {
			rm, _ := it.(map[string]any)
			idv, _ := rm["id"].(string)
			id, ok := normalizeID(idv)
			if !ok {
				return nil, validationf("body failed validation: %s[%d].id should be a valid uuid, instead was `%s`.", vp, i, jsonShort(rm["id"]))
			}
			rp := s.pages[id]
			if rp == nil || rp.DataSource != target {
				return nil, validationf("body failed validation: %s[%d]: page %s is not a page of the related data source %s.", vp, i, idv, target)
			}
			if !seen[id] {
				seen[id] = true
				out = append(out, map[string]any{"id": id})
			}
		}
		return out, nil
	}
	return nil, validationf("%s is expected to be %s.", p.Name, p.Type)
}

// option resolves a select/status request option ({name} or {id}),
// creating a select or multi-select option on first use like Notion.
func (s *store) option(path string, p *property, v any) (any, *apiError) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, validationf("body failed validation: %s should be an object, instead was `%s`.", path, jsonShort(v))
	}
	name, _ := m["name"].(string)
	id, _ := m["id"].(string)
	opts, _ := p.Config["options"].([]any)
	for _, o := range opts {
		om := o.(map[string]any)
		if (id != "" && om["id"] == id) || (id == "" && name != "" && om["name"] == name) {
			return map[string]any{"id": om["id"], "name": om["name"], "color": om["color"]}, nil
		}
	}
	if p.Type == "status" {
		return nil, validationf("Invalid status option. Status option %q does not exist for property %q.", name+id, p.Name)
	}
	if name == "" {
		return nil, validationf("body failed validation: %s: no option with id `%s` on %s.", path, id, p.Name)
	}
	if err := checkOptionName(path+".name", name); err != nil {
		return nil, err
	}
	color := "default"
	if c, ok := m["color"].(string); ok && slices.Contains(colors, c) {
		color = c
	}
	o := map[string]any{"id": propertyID(), "name": name, "color": color, "description": nil}
	p.Config["options"] = append(opts, o)
	return map[string]any{"id": o["id"], "name": name, "color": color}, nil
}

func validDate(s string) bool {
	for _, layout := range []string{"2006-01-02", time.RFC3339, time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04:05.000", "2006-01-02T15:04"} {
		if _, err := time.Parse(layout, s); err == nil {
			return true
		}
	}
	return false
}

func (s *store) user(id string) *User {
	for i := range s.users {
		if uid, _ := normalizeID(s.users[i].ID); uid == id {
			return &s.users[i]
		}
	}
	return nil
}

func userObject(u User) map[string]any {
	id, _ := normalizeID(u.ID)
	m := map[string]any{"object": "user", "id": id, "name": u.Name, "avatar_url": nil}
	if u.Bot {
		m["type"] = "bot"
		m["bot"] = map[string]any{"owner": map[string]any{"type": "workspace", "workspace": true}, "workspace_name": "synq emulator"}
	} else {
		m["type"] = "person"
		m["person"] = map[string]any{"email": u.Email}
	}
	return m
}
