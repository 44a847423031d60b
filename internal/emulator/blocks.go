package emulator

import (
	"maps"
	"slices"
	"strings"
	"time"
)

// Page content: blocks under pages and under other blocks, with the
// per-request limits Notion enforces (100 children per array, two levels
// of nesting, 1000 blocks per request) and its errors.

const (
	maxChildren      = 100
	maxNesting       = 2
	maxRequestBlocks = 1000
)

// block is one stored block. Payload is its response form without
// children; it is replaced, never changed in place, so a response being
// encoded outside the lock never sees a write.
type block struct {
	ID         string         `json:"id"`
	Parent     string         `json:"parent"`
	ParentType string         `json:"parent_type"` // page_id or block_id
	Type       string         `json:"type"`
	Payload    map[string]any `json:"payload"`
	Children   []string       `json:"children,omitempty"` // in order, trashed ones included
	InTrash    bool           `json:"in_trash"`
	Created    time.Time      `json:"created"`
	Edited     time.Time      `json:"edited"`
}

var textBlockTypes = []string{"paragraph", "heading_1", "heading_2", "heading_3", "bulleted_list_item",
	"numbered_list_item", "to_do", "quote"}

var blockTypes = append(slices.Clone(textBlockTypes), "code", "divider", "image", "table", "table_row")

// childBearing are the types whose blocks may have children.
var childBearing = []string{"paragraph", "bulleted_list_item", "numbered_list_item", "to_do", "quote", "table",
	"heading_1", "heading_2", "heading_3"}

var codeLanguages = []string{
	"abap", "abc", "agda", "arduino", "ascii art", "assembly", "bash", "basic", "bnf", "c", "c#", "c++",
	"clojure", "coffeescript", "coq", "css", "dart", "dhall", "diff", "docker", "ebnf", "elixir", "elm",
	"erlang", "f#", "flow", "fortran", "gherkin", "glsl", "go", "graphql", "groovy", "haskell", "hcl",
	"html", "idris", "java", "javascript", "json", "julia", "kotlin", "latex", "less", "lisp",
	"livescript", "llvm ir", "lua", "makefile", "markdown", "markup", "matlab", "mathematica", "mermaid",
	"nix", "notion formula", "objective-c", "ocaml", "pascal", "perl", "php", "plain text", "powershell",
	"prolog", "protobuf", "purescript", "python", "r", "racket", "reason", "ruby", "rust", "sass",
	"scala", "scheme", "scss", "shell", "smalltalk", "solidity", "sql", "swift", "toml", "typescript",
	"vb.net", "verilog", "vhdl", "visual basic", "webassembly", "xml", "yaml", "java/c/c++/c#",
}

var errArchived = validationf("Can't edit block that is archived. You must unarchive the block before editing.")

// newBlock is a validated request block, not stored yet.
type newBlock struct {
	typ      string
	payload  map[string]any
	children []*newBlock
}

// blockArgs validates a request's children array at path. level is the
// nesting level of its blocks (1 for the top-level children); count
// counts the request's blocks across calls; parentType is the type of
// the block they go under ("" for a page, "table" for rows).
func blockArgs(v any, path string, level int, count *int, parentType string, tableWidth int) ([]*newBlock, *apiError) {
	items, ok := v.([]any)
	if !ok {
		if v == nil {
			return nil, validationf("body failed validation: %s should be defined, instead was `undefined`.", path)
		}
		return nil, validationf("body failed validation: %s should be an array, instead was `%s`.", path, jsonShort(v))
	}
	if len(items) > maxChildren {
		return nil, validationf("body failed validation: %s.length should be ≤ `%d`, instead was `%d`.", path, maxChildren, len(items))
	}
	out := make([]*newBlock, 0, len(items))
	for i, it := range items {
		ip := path + "[" + itoa(i) + "]"
		m, ok := it.(map[string]any)
		if !ok {
			return nil, validationf("body failed validation: %s should be an object, instead was `%s`.", ip, jsonShort(it))
		}
		*count++
		if *count > maxRequestBlocks {
			return nil, validationf("body failed validation: the request has more than %d blocks: send at most %d blocks, nested ones included, per request.", maxRequestBlocks, maxRequestBlocks)
		}
		typ := schemaType(m, blockTypes)
		if !slices.Contains(blockTypes, typ) {
			return nil, validationf("body failed validation: %s.type should be one of %s, instead was `%s`.", ip, jsonShort(blockTypes), typ)
		}
		if (typ == "table_row") != (parentType == "table") {
			if typ == "table_row" {
				return nil, validationf("body failed validation: %s: a table_row can only be a child of a table.", ip)
			}
			return nil, validationf("body failed validation: %s: the children of a table must be table_row blocks, instead was `%s`.", ip, typ)
		}
		raw, ok := m[typ].(map[string]any)
		if !ok {
			return nil, validationf("body failed validation: %s.%s should be defined, instead was `undefined`.", ip, typ)
		}
		payload, err := blockPayload(typ, ip+"."+typ, raw, nil)
		if err != nil {
			return nil, err
		}
		if typ == "table_row" {
			if n := len(payload["cells"].([]any)); n != tableWidth {
				return nil, validationf("body failed validation: %s.table_row.cells.length should be `%d` (the table's table_width), instead was `%d`.", ip, tableWidth, n)
			}
		}
		nb := &newBlock{typ: typ, payload: payload}
		kids, hasKids := raw["children"]
		if hasKids {
			cp := ip + "." + typ + ".children"
			if !slices.Contains(childBearing, typ) || level >= maxNesting {
				return nil, validationf("body failed validation: %s should be not present, instead was `%s`.", cp, jsonShort(kids))
			}
			width := 0
			if typ == "table" {
				width = int(payload["table_width"].(float64))
			}
			if nb.children, err = blockArgs(kids, cp, level+1, count, typ, width); err != nil {
				return nil, err
			}
		}
		if typ == "table" && len(nb.children) == 0 {
			return nil, validationf("body failed validation: %s.table.children should be defined: a table is created with at least one table_row.", ip)
		}
		out = append(out, nb)
	}
	return out, nil
}

// blockPayload validates the payload of a block of type typ and returns
// its response form. base is the stored payload an update starts from
// (nil for a new block: absent fields take their defaults and required
// ones must be there).
func blockPayload(typ, path string, in, base map[string]any) (map[string]any, *apiError) {
	out := map[string]any{}
	maps.Copy(out, base)
	create := base == nil
	for k := range in {
		if k == "children" {
			if !create {
				return nil, validationf("body failed validation: %s.children should be not present: append children with PATCH /v1/blocks/{id}/children.", path)
			}
			continue
		}
		if !slices.Contains(payloadFields(typ), k) {
			return nil, validationf("body failed validation: %s.%s should be not present.", path, k)
		}
	}
	text := func(key string, required bool) *apiError {
		v, ok := in[key]
		if !ok {
			if create && required {
				return validationf("body failed validation: %s.%s should be defined, instead was `undefined`.", path, key)
			}
			if create {
				out[key] = []any{}
			}
			return nil
		}
		rt, err := richText(v, path+"."+key)
		if err != nil {
			return err
		}
		out[key] = rt
		return nil
	}
	boolean := func(key string) *apiError {
		v, ok := in[key]
		if !ok {
			if create {
				out[key] = false
			}
			return nil
		}
		b, ok := v.(bool)
		if !ok {
			return validationf("body failed validation: %s.%s should be a boolean, instead was `%s`.", path, key, jsonShort(v))
		}
		out[key] = b
		return nil
	}
	color := func() *apiError {
		v, ok := in["color"]
		if !ok {
			if create {
				out["color"] = "default"
			}
			return nil
		}
		c, _ := v.(string)
		if base := strings.TrimSuffix(c, "_background"); !slices.Contains(colors, base) {
			return validationf("body failed validation: %s.color should be a color, instead was `%s`.", path, jsonShort(v))
		}
		out["color"] = c
		return nil
	}
	var err *apiError
	switch typ {
	case "paragraph", "bulleted_list_item", "numbered_list_item", "quote", "heading_1", "heading_2", "heading_3", "to_do":
		if err = text("rich_text", true); err == nil {
			err = color()
		}
		if err == nil && typ == "to_do" {
			err = boolean("checked")
		}
		if err == nil && (typ == "heading_1" || typ == "heading_2" || typ == "heading_3") {
			err = boolean("is_toggleable")
		}
	case "code":
		if err = text("rich_text", true); err == nil {
			err = text("caption", false)
		}
		if err == nil {
			v, ok := in["language"]
			switch l, _ := v.(string); {
			case !ok && create:
				err = validationf("body failed validation: %s.language should be defined, instead was `undefined`.", path)
			case ok && !slices.Contains(codeLanguages, l):
				err = validationf("body failed validation: %s.language should be one of the code languages, instead was `%s`.", path, jsonShort(v))
			case ok:
				out["language"] = l
			}
		}
	case "divider":
	case "image":
		if err = text("caption", false); err != nil {
			break
		}
		ext, hasExt := in["external"].(map[string]any)
		if t, ok := in["type"].(string); ok && t != "external" {
			return nil, validationf("body failed validation: %s.type should be `external`, instead was `%s` (the emulator stores external images only).", path, t)
		}
		switch {
		case hasExt:
			u, _ := ext["url"].(string)
			if !validURL(u) || textLen(u) > maxURLLen {
				return nil, validationf("body failed validation: %s.external.url should be a URL of at most %d characters, instead was `%s`.", path, maxURLLen, jsonShort(ext["url"]))
			}
			out["type"], out["external"] = "external", map[string]any{"url": u}
		case create:
			return nil, validationf("body failed validation: %s.external should be defined, instead was `undefined`.", path)
		}
	case "table":
		if v, ok := in["table_width"]; ok {
			if !create {
				return nil, validationf("body failed validation: %s.table_width cannot be changed after the table is created.", path)
			}
			n, ok := v.(float64)
			if !ok || n != float64(int(n)) || n < 1 || n > maxArrayItems {
				return nil, validationf("body failed validation: %s.table_width should be an integer between 1 and %d, instead was `%s`.", path, maxArrayItems, jsonShort(v))
			}
			out["table_width"] = n
		} else if create {
			return nil, validationf("body failed validation: %s.table_width should be defined, instead was `undefined`.", path)
		}
		if err = boolean("has_column_header"); err == nil {
			err = boolean("has_row_header")
		}
	case "table_row":
		v, ok := in["cells"]
		if !ok {
			if create {
				return nil, validationf("body failed validation: %s.cells should be defined, instead was `undefined`.", path)
			}
			break
		}
		cells, ok := v.([]any)
		if !ok {
			return nil, validationf("body failed validation: %s.cells should be an array, instead was `%s`.", path, jsonShort(v))
		}
		if len(cells) > maxArrayItems {
			return nil, validationf("body failed validation: %s.cells.length should be ≤ `%d`, instead was `%d`.", path, maxArrayItems, len(cells))
		}
		rows := make([]any, len(cells))
		for i, c := range cells {
			rt, err := richText(c, path+".cells["+itoa(i)+"]")
			if err != nil {
				return nil, err
			}
			rows[i] = rt
		}
		out["cells"] = rows
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

func payloadFields(typ string) []string {
	switch typ {
	case "paragraph", "bulleted_list_item", "numbered_list_item", "quote":
		return []string{"rich_text", "color"}
	case "heading_1", "heading_2", "heading_3":
		return []string{"rich_text", "color", "is_toggleable"}
	case "to_do":
		return []string{"rich_text", "color", "checked"}
	case "code":
		return []string{"rich_text", "caption", "language"}
	case "image":
		return []string{"type", "external", "caption"}
	case "table":
		return []string{"table_width", "has_column_header", "has_row_header"}
	case "table_row":
		return []string{"cells"}
	}
	return nil
}

// insertBlocks stores nbs under parent (a page or block id) after the
// child after ("" for the end) and returns the stored top-level blocks.
// Callers hold the write lock and have validated everything.
func (st *store) insertBlocks(parent, parentType string, after string, nbs []*newBlock, now time.Time) []*block {
	made := make([]*block, 0, len(nbs))
	ids := make([]string, 0, len(nbs))
	for _, nb := range nbs {
		b := &block{ID: newID(), Parent: parent, ParentType: parentType, Type: nb.typ, Payload: nb.payload, Created: now, Edited: now}
		st.blocks[b.ID] = b
		if len(nb.children) > 0 {
			st.insertBlocks(b.ID, "block_id", "", nb.children, now)
		}
		made = append(made, b)
		ids = append(ids, b.ID)
	}
	kids := st.childIDs(parent)
	at := len(kids)
	if after != "" {
		at = slices.Index(kids, after) + 1
	}
	st.setChildIDs(parent, slices.Insert(slices.Clone(kids), at, ids...))
	for _, b := range made {
		st.persist("block", b)
	}
	return made
}

// childIDs are the ids of a page's or block's children, trashed ones
// included.
func (st *store) childIDs(parent string) []string {
	if pg := st.pages[parent]; pg != nil {
		return pg.Children
	}
	if b := st.blocks[parent]; b != nil {
		return b.Children
	}
	return nil
}

func (st *store) setChildIDs(parent string, ids []string) {
	if pg := st.pages[parent]; pg != nil {
		pg.Children = ids
		st.persist("page", pg)
		return
	}
	if b := st.blocks[parent]; b != nil {
		b.Children = ids
		st.persist("block", b)
	}
}

// visibleChildren are the children not in the trash, in order.
func (st *store) visibleChildren(parent string) []string {
	var out []string
	for _, id := range st.childIDs(parent) {
		if b := st.blocks[id]; b != nil && !b.InTrash {
			out = append(out, id)
		}
	}
	return out
}

func (st *store) renderBlock(b *block) map[string]any {
	bot := st.botUser()
	return map[string]any{
		"object": "block", "id": b.ID, "parent": map[string]any{"type": b.ParentType, b.ParentType: b.Parent},
		"created_time": notionTime(b.Created), "last_edited_time": notionTime(b.Edited),
		"created_by": bot, "last_edited_by": bot, "has_children": len(st.visibleChildren(b.ID)) > 0,
		"archived": b.InTrash, "in_trash": b.InTrash, "type": b.Type, b.Type: b.Payload,
	}
}

// container resolves the {id} of a children endpoint: a page of a data
// source or a block. trashed says whether it is in the trash.
func (st *store) container(id string) (parentType string, trashed bool, ok bool) {
	if pg := st.pages[id]; pg != nil {
		return "page_id", pg.InTrash, true
	}
	if b := st.blocks[id]; b != nil {
		return "block_id", b.InTrash, true
	}
	return "", false, false
}

func (s *Server) getBlock(r *request) (map[string]any, string, *apiError) {
	id, err := pathID(r, "block")
	if err != nil {
		return nil, "", err
	}
	st := s.store
	st.mu.RLock()
	defer st.mu.RUnlock()
	b := st.blocks[id]
	if b == nil {
		return nil, "", notFound("block", id)
	}
	return st.renderBlock(b), "", nil
}

func (s *Server) listBlockChildren(r *request) (map[string]any, string, *apiError) {
	id, err := pathID(r, "block")
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
	if _, _, ok := st.container(id); !ok {
		if st.wsPages[id] != nil {
			return list([]any{}, "", "block"), "", nil
		}
		return nil, "", notFound("block", id)
	}
	ids, next, err := paginate(st.visibleChildren(id), cursor, size)
	if err != nil {
		return nil, "", err
	}
	results := make([]any, len(ids))
	for i, cid := range ids {
		results[i] = st.renderBlock(st.blocks[cid])
	}
	return list(results, next, "block"), "", nil
}

func (s *Server) appendBlockChildren(r *request) (map[string]any, string, *apiError) {
	id, err := pathID(r, "block")
	if err != nil {
		return nil, "", err
	}
	for k := range r.body {
		if k != "children" && k != "after" {
			return nil, "", validationf("body failed validation: body.%s should be not present.", k)
		}
	}
	after := ""
	if v, ok := r.body["after"]; ok && v != nil {
		raw, _ := v.(string)
		a, ok := normalizeID(raw)
		if !ok {
			return nil, "", validationf("body failed validation: body.after should be a valid uuid, instead was `%s`.", jsonShort(v))
		}
		after = a
	}
	st := s.store
	st.mu.Lock()
	defer st.mu.Unlock()
	parentType, trashed, ok := st.container(id)
	if !ok {
		return nil, "", notFound("block", id)
	}
	if trashed {
		return nil, "", errArchived
	}
	ptype, width := "", 0
	if b := st.blocks[id]; b != nil {
		ptype = b.Type
		if b.Type == "table" {
			width = int(b.Payload["table_width"].(float64))
		} else if !slices.Contains(childBearing, b.Type) {
			return nil, "", validationf("Block %s of type %s cannot have children.", id, b.Type)
		}
	}
	count := 0
	nbs, err := blockArgs(r.body["children"], "body.children", 1, &count, ptype, width)
	if err != nil {
		return nil, "", err
	}
	if len(nbs) == 0 {
		return nil, "", validationf("body failed validation: body.children should not be empty.")
	}
	if after != "" && !slices.Contains(st.visibleChildren(id), after) {
		return nil, "", validationf("body failed validation: body.after should be the id of a child of %s, instead was `%s`.", id, after)
	}
	now := time.Now()
	made := st.insertBlocks(id, parentType, after, nbs, now)
	st.touch(id, now)
	st.flush()
	results := make([]any, len(made))
	for i, b := range made {
		results[i] = st.renderBlock(b)
	}
	return list(results, "", "block"), id, nil
}

// touch marks a page or block edited.
func (st *store) touch(id string, now time.Time) {
	if pg := st.pages[id]; pg != nil {
		pg.Edited = now
	} else if b := st.blocks[id]; b != nil {
		b.Edited = now
	}
}

func (s *Server) updateBlock(r *request) (map[string]any, string, *apiError) {
	id, err := pathID(r, "block")
	if err != nil {
		return nil, "", err
	}
	st := s.store
	st.mu.Lock()
	defer st.mu.Unlock()
	b := st.blocks[id]
	if b == nil {
		return nil, "", notFound("block", id)
	}
	trash, setTrash := trashArg(r)
	var payload map[string]any
	for k, v := range r.body {
		switch k {
		case "in_trash", "archived":
			continue
		case b.Type:
			m, ok := v.(map[string]any)
			if !ok {
				return nil, "", validationf("body failed validation: body.%s should be an object, instead was `%s`.", k, jsonShort(v))
			}
			if payload, err = blockPayload(b.Type, "body."+k, m, b.Payload); err != nil {
				return nil, "", err
			}
		default:
			if slices.Contains(blockTypes, k) {
				return nil, "", validationf("body failed validation: body.%s should be not present: block %s is a %s, and a block's type cannot be changed.", k, id, b.Type)
			}
			return nil, "", validationf("body failed validation: body.%s should be not present.", k)
		}
	}
	if b.InTrash && (!setTrash || trash) {
		return nil, "", errArchived
	}
	if payload != nil && b.Type == "table_row" {
		if t := st.blocks[b.Parent]; t != nil {
			w := int(t.Payload["table_width"].(float64))
			if n := len(payload["cells"].([]any)); n != w {
				return nil, "", validationf("body failed validation: body.table_row.cells.length should be `%d` (the table's table_width), instead was `%d`.", w, n)
			}
		}
	}
	if payload != nil {
		b.Payload = payload
	}
	if setTrash {
		b.InTrash = trash
	}
	b.Edited = time.Now()
	st.persist("block", b)
	st.flush()
	return st.renderBlock(b), b.ID, nil
}

func (s *Server) deleteBlock(r *request) (map[string]any, string, *apiError) {
	id, err := pathID(r, "block")
	if err != nil {
		return nil, "", err
	}
	st := s.store
	st.mu.Lock()
	defer st.mu.Unlock()
	b := st.blocks[id]
	if b == nil {
		return nil, "", notFound("block", id)
	}
	if b.InTrash {
		return nil, "", errArchived
	}
	b.InTrash = true
	b.Edited = time.Now()
	st.persist("block", b)
	st.flush()
	return st.renderBlock(b), b.ID, nil
}
