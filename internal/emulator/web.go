package emulator

import (
	"bytes"
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
.body{max-width:48em;margin-top:2em}.body pre{background:#f7f6f3;padding:8px 12px;overflow:auto}
.body blockquote{border-left:3px solid #37352f;margin-left:0;padding-left:1em}.body img{max-width:100%}
.body .todo{list-style:none;padding-left:0}.body code{background:#f1f1ef;padding:0 3px}.body pre code{background:none;padding:0}
.body .lang{color:#9b9a97;font-size:12px}
</style></head><body>
<p><a href="/">Notion emulator</a> · API version {{.Version}} · <span id="live-note" class="muted">live: refreshes every 3 s</span></p>
<div id="live">
<h1>{{.Title}}</h1>
{{if .Databases}}<table><tr><th>Database</th><th>Rows</th><th>Data source id</th><th>Parent page</th></tr>
{{range .Databases}}<tr><td><a href="/databases/{{.ID}}">{{.Title}}</a>{{if .Trashed}} <span class="muted">(in trash)</span>{{end}}</td><td>{{.Rows}}</td><td><code>{{.DataSource}}</code></td><td><code>{{.Parent}}</code></td></tr>
{{end}}</table>{{else if not (or .Columns .Props)}}<p class="muted">No databases yet: run a sync against this emulator.</p>{{end}}
{{if .Columns}}<p class="muted">{{len .Rows}} rows (trashed rows hidden); a row's title opens its page and body</p>
<table><tr>{{range .Columns}}<th>{{.}}</th>{{end}}</tr>
{{range .Rows}}<tr>{{range .}}<td>{{if .Href}}<a href="{{.Href}}">{{.Text}}</a>{{else}}{{.Text}}{{end}}</td>{{end}}</tr>
{{end}}</table>{{end}}
{{if .Props}}<p>{{if .Back}}<a href="{{.Back}}">← table</a>{{end}}{{if .Trashed}} <span class="muted">(in trash)</span>{{end}}</p>
<table>{{range .Props}}<tr><th>{{index . 0}}</th><td>{{index . 1}}</td></tr>{{end}}</table>
<div class="body">{{if .Body}}{{.Body}}{{else}}<p class="muted">This page has no body.</p>{{end}}</div>{{end}}
</div>
<script>
// Syncs keep writing: the page follows them without a reload (and
// without losing the scroll position), while the tab is visible.
(function () {
  var note = document.getElementById("live-note");
  setInterval(async function () {
    if (document.hidden) return;
    try {
      var r = await fetch(location.href, {cache: "no-store"});
      if (!r.ok) throw new Error(r.status);
      var doc = new DOMParser().parseFromString(await r.text(), "text/html");
      var next = doc.getElementById("live"), cur = document.getElementById("live");
      if (next && cur && next.innerHTML !== cur.innerHTML) cur.innerHTML = next.innerHTML;
      note.textContent = "live: updated " + new Date().toLocaleTimeString();
    } catch (e) {
      note.textContent = "live: the emulator does not answer (stopped?)";
    }
  }, 3000);
})();
</script>
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
	Rows           [][]webCell
	// A row's own page: its properties, its body, the way back.
	Props   [][2]string
	Body    template.HTML
	Back    string
	Trashed bool
}

type webCell struct{ Text, Href string }

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
	s.render(w, r, webPage{Title: "Databases", Version: Version, Databases: dbs})
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
			cells := make([]webCell, len(props))
			for i, prop := range props {
				cells[i].Text = displayValue(p.Props[prop.ID], st)
				if prop.Type == "title" {
					cells[i].Href = "/pages/" + p.ID
				}
			}
			wp.Rows = append(wp.Rows, cells)
		}
	}
	st.mu.RUnlock()
	s.render(w, r, wp)
}

func (s *Server) webPageBody(w http.ResponseWriter, r *http.Request) {
	id, ok := normalizeID(r.PathValue("id"))
	st := s.store
	st.mu.RLock()
	pg := st.pages[id]
	if !ok || pg == nil {
		st.mu.RUnlock()
		http.NotFound(w, r)
		return
	}
	ds := st.sources[pg.DataSource]
	wp := webPage{Title: "Untitled", Version: Version, Back: "/databases/" + ds.Database, Trashed: pg.InTrash}
	for _, prop := range ds.Props {
		v := displayValue(pg.Props[prop.ID], st)
		if prop.Type == "title" {
			wp.Title = cmp.Or(v, "Untitled")
			continue
		}
		wp.Props = append(wp.Props, [2]string{prop.Name, v})
	}
	slices.SortFunc(wp.Props, func(a, b [2]string) int { return strings.Compare(a[0], b[0]) })
	if len(wp.Props) == 0 {
		wp.Props = [][2]string{{"Page id", pg.ID}}
	}
	var b strings.Builder
	st.renderBody(&b, pg.ID)
	st.mu.RUnlock()
	wp.Body = template.HTML(b.String())
	s.render(w, r, wp)
}

// render executes the template into memory first: a template error is the
// emulator's (logged as an error, answered 500), a failed write is a
// browser that went away (a closed tab, a reload), which is no error.
func (s *Server) render(w http.ResponseWriter, r *http.Request, p webPage) {
	var buf bytes.Buffer
	if err := webTmpl.Execute(&buf, p); err != nil {
		s.log.Error("emulator: rendering a web page", "path", r.URL.Path, "err", err)
		http.Error(w, "the emulator could not render this page: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if _, err := w.Write(buf.Bytes()); err != nil {
		s.log.Debug("emulator: the browser went away before the page was sent", "path", r.URL.Path, "err", err)
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
