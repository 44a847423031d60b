package emulator

import (
	"cmp"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strings"
)

// The web page is read-only and unauthenticated: it is for a person
// checking what a sync wrote to a local emulator.

var webTmpl = template.Must(template.New("web").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>{{.Title}} · Notion emulator</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#37352f}
table{border-collapse:collapse;margin-top:1em}td,th{border:1px solid #e9e9e7;padding:4px 8px;text-align:left;vertical-align:top;max-width:28em}
th{background:#f7f6f3}a{color:#2e7dd1}.muted{color:#9b9a97}
</style></head><body>
<p><a href="/">Notion emulator</a> · API version {{.Version}}</p>
<h1>{{.Title}}</h1>
{{if .Databases}}<table><tr><th>Database</th><th>Rows</th><th>Data source id</th><th>Parent page</th></tr>
{{range .Databases}}<tr><td><a href="/databases/{{.ID}}">{{.Title}}</a>{{if .Trashed}} <span class="muted">(in trash)</span>{{end}}</td><td>{{.Rows}}</td><td><code>{{.DataSource}}</code></td><td><code>{{.Parent}}</code></td></tr>
{{end}}</table>{{else if not .Columns}}<p class="muted">No databases yet: run a sync against this emulator.</p>{{end}}
{{if .Columns}}<p class="muted">{{len .Rows}} rows (trashed rows hidden)</p>
<table><tr>{{range .Columns}}<th>{{.}}</th>{{end}}</tr>
{{range .Rows}}<tr>{{range .}}<td>{{.}}</td>{{end}}</tr>
{{end}}</table>{{end}}
</body></html>`))

type webDB struct {
	ID, Title, DataSource, Parent string
	Rows                          int
	Trashed                       bool
}

type webPage struct {
	Title, Version string
	Databases      []webDB
	Columns        []string
	Rows           [][]string
}

func (s *Server) webIndex(w http.ResponseWriter, r *http.Request) {
	st := s.store
	st.mu.RLock()
	counts := map[string]int{}
	for _, p := range st.pages {
		if !p.InTrash {
			counts[p.DataSource]++
		}
	}
	var dbs []webDB
	for _, d := range st.databases {
		row := webDB{ID: d.ID, Title: cmp.Or(plainText(d.Title), "Untitled"), Parent: d.ParentPage, Trashed: d.InTrash}
		for _, ds := range d.DataSources {
			row.DataSource = ds
			row.Rows += counts[ds]
		}
		dbs = append(dbs, row)
	}
	st.mu.RUnlock()
	slices.SortFunc(dbs, func(a, b webDB) int { return cmp.Or(strings.Compare(a.Title, b.Title), strings.Compare(a.ID, b.ID)) })
	s.render(w, webPage{Title: "Databases", Version: Version, Databases: dbs})
}

func (s *Server) webDatabase(w http.ResponseWriter, r *http.Request) {
	id, ok := normalizeID(r.PathValue("id"))
	st := s.store
	st.mu.RLock()
	d := st.databases[id]
	if !ok || d == nil {
		st.mu.RUnlock()
		http.NotFound(w, r)
		return
	}
	wp := webPage{Title: cmp.Or(plainText(d.Title), "Untitled"), Version: Version}
	for _, dsID := range d.DataSources {
		ds := st.sources[dsID]
		props := slices.Clone(ds.Props)
		// Title first, then by name, like a table view.
		slices.SortStableFunc(props, func(a, b *property) int {
			if (a.Type == "title") != (b.Type == "title") {
				if a.Type == "title" {
					return -1
				}
				return 1
			}
			return strings.Compare(a.Name, b.Name)
		})
		for _, p := range props {
			wp.Columns = append(wp.Columns, p.Name)
		}
		var rows []*page
		for _, p := range st.pages {
			if p.DataSource == dsID && !p.InTrash {
				rows = append(rows, p)
			}
		}
		slices.SortFunc(rows, func(a, b *page) int { return cmp.Compare(a.Seq, b.Seq) })
		for _, p := range rows {
			cells := make([]string, len(props))
			for i, prop := range props {
				cells[i] = displayValue(p.Props[prop.ID], st)
			}
			wp.Rows = append(wp.Rows, cells)
		}
	}
	st.mu.RUnlock()
	s.render(w, wp)
}

func (s *Server) render(w http.ResponseWriter, p webPage) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := webTmpl.Execute(w, p); err != nil {
		s.log.Error("emulator: web page", "err", err)
	}
}

// displayValue renders a stored value as short text for the table.
func displayValue(v any, st *store) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case bool:
		if x {
			return "✓"
		}
		return ""
	case float64:
		return fmt.Sprint(x)
	case []any:
		if len(x) > 0 && isRichText(x) {
			return plainText(x)
		}
		parts := make([]string, 0, len(x))
		for _, it := range x {
			parts = append(parts, displayValue(it, st))
		}
		return strings.Join(parts, ", ")
	case map[string]any:
		if n, ok := x["name"].(string); ok && n != "" {
			return n
		}
		if s, ok := x["start"].(string); ok {
			if e, ok := x["end"].(string); ok {
				return s + " → " + e
			}
			return s
		}
		if ext, ok := x["external"].(map[string]any); ok {
			return fmt.Sprint(ext["url"])
		}
		if id, ok := x["id"].(string); ok {
			if p := st.pages[id]; p != nil {
				if tp := st.sources[p.DataSource].titleProp(); tp != nil {
					return plainText(p.Props[tp.ID])
				}
			}
			return id
		}
		if lat, ok := x["lat"].(float64); ok {
			return fmt.Sprintf("%.5f, %.5f", lat, x["lon"])
		}
	}
	return fmt.Sprint(v)
}
