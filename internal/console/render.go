package console

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"math"
	"net/http"
	"net/url"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/synqhq/synq/internal/ops"
	"github.com/synqhq/synq/internal/pacer"
	"github.com/synqhq/synq/internal/rdb"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// assets are the embedded static files with their content hash, so pages
// link them as /static/<name>?v=<hash> and browsers keep them for a year.
var assets = func() map[string]asset {
	out := map[string]asset{}
	_ = fs.WalkDir(staticFS, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := staticFS.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		var gz bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
		zw.Write(b)
		zw.Close()
		out[path.Base(p)] = asset{body: b, gz: gz.Bytes(), hash: hex.EncodeToString(sum[:6])}
		return nil
	})
	return out
}()

type asset struct {
	body, gz []byte
	hash     string
}

func (c *Console) static(w http.ResponseWriter, r *http.Request) {
	a, ok := assets[r.PathValue("name")]
	if !ok {
		http.NotFound(w, r)
		return
	}
	ct := "text/plain; charset=utf-8"
	switch path.Ext(r.PathValue("name")) {
	case ".css":
		ct = "text/css; charset=utf-8"
	case ".js":
		ct = "text/javascript; charset=utf-8"
	case ".svg":
		ct = "image/svg+xml"
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	w.Header().Set("Vary", "Accept-Encoding")
	if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
		w.Header().Set("Content-Encoding", "gzip")
		w.Write(a.gz)
		return
	}
	w.Write(a.body)
}

func assetURL(name string) string { return "/static/" + name + "?v=" + assets[name].hash }

var templates = template.Must(template.New("").Funcs(funcs).ParseFS(templateFS, "templates/*.html"))

// page is what every template gets.
type page struct {
	Title string
	// Nav is the highlighted section.
	Nav  string
	Data any
	// Filled in by render.
	CSRF string
	// Auth: a login is required and this viewer has one (Log out shows);
	// Anon: a login is required and this viewer has none (no navigation).
	Auth, Anon bool
	Refresh    int // seconds; 0 = no live refresh
	Flash      string
	Now        time.Time
	// Status is the response's status (0: 200).
	Status int
}

var gzPool = sync.Pool{New: func() any { w, _ := gzip.NewWriterLevel(io.Discard, gzip.DefaultCompression); return w }}

// render executes a template into a buffer first, so a template error is a
// clean 500 and not half a page, and compresses the page when the browser
// accepts it.
func (c *Console) render(w http.ResponseWriter, r *http.Request, name string, p page) {
	c.who(r, &p)
	if p.Flash == "" {
		p.Flash = flashes[r.URL.Query().Get("done")]
	}
	var buf bytes.Buffer
	if err := templates.ExecuteTemplate(&buf, name, p); err != nil {
		c.log.Error("console: rendering a page failed", "template", name, "err", err)
		http.Error(w, "internal error rendering the page: the scheduler logged it", http.StatusInternalServerError)
		return
	}
	write(w, r, "text/html; charset=utf-8", p.Status, buf.Bytes())
}

// who fills in what a page shows of the viewer's session.
func (c *Console) who(r *http.Request, p *page) {
	s := sessionOf(r.Context())
	p.CSRF = c.csrfToken(s)
	p.Auth = c.cfg.Token != "" && s.ID != ""
	p.Anon = c.cfg.Token != "" && s.ID == ""
	p.Now = c.cfg.Now()
}

func write(w http.ResponseWriter, r *http.Request, ct string, status int, b []byte) {
	h := w.Header()
	h.Set("Content-Type", ct)
	h.Set("Cache-Control", "no-store")
	h.Set("Vary", "Accept-Encoding")
	if status == 0 {
		status = http.StatusOK
	}
	if len(b) > 1024 && strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
		h.Set("Content-Encoding", "gzip")
		w.WriteHeader(status)
		zw := gzPool.Get().(*gzip.Writer)
		zw.Reset(w)
		zw.Write(b)
		zw.Close()
		gzPool.Put(zw)
		return
	}
	w.WriteHeader(status)
	w.Write(b)
}

// flashes are the messages an action's redirect may show (?done=…): a
// fixed set, so a link cannot make the console say anything else.
var flashes = map[string]string{
	"triggered": "Run started.",
	"paused":    "Sync paused: it is not scheduled, and an active run stops at its next page boundary.",
	"resumed":   "Sync resumed.",
	"cancelled": "Run cancelled: the page in flight finishes its writes, and no further page runs.",
	"reset":     "State reset: the next run starts from an empty state.",
	"forgotten": "Sync forgotten: its records are gone from Redis; its Notion rows are untouched.",
}

// fail renders an error page with a message a person can act on.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, status int, title, msg string) {
	p := page{Title: title, Data: map[string]any{"Status": status, "Message": msg, "Back": r.Header.Get("Referer")}}
	c.who(r, &p)
	var buf bytes.Buffer
	if err := templates.ExecuteTemplate(&buf, "error", p); err != nil {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(status)
		fmt.Fprintf(w, "%s: %s\n", title, msg)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// failErr maps an operation's error to a status, the way the control API
// maps it to a gRPC code.
func (c *Console) failErr(w http.ResponseWriter, r *http.Request, err error) {
	status, title := http.StatusInternalServerError, "Something went wrong"
	switch {
	case errors.Is(err, ops.ErrUnknownSync):
		status, title = http.StatusNotFound, "No such sync"
	case errors.Is(err, ops.ErrUnknownWebhook):
		status, title = http.StatusNotFound, "No such webhook"
	case errors.Is(err, ops.ErrUnknownRun):
		status, title = http.StatusNotFound, "No such run"
	case errors.Is(err, ops.ErrRunActive), errors.Is(err, ops.ErrPaused), errors.Is(err, ops.ErrNotActive),
		errors.Is(err, ops.ErrUndeclared), errors.Is(err, ops.ErrDeclared), errors.Is(err, ops.ErrSweeping):
		status, title = http.StatusConflict, "Refused"
	case errors.Is(err, ops.ErrInvalidState):
		status, title = http.StatusBadRequest, "Invalid state"
	case errors.Is(err, ops.ErrNoExecutor), errors.Is(err, rdb.ErrUnavailable):
		status, title = http.StatusServiceUnavailable, "Unavailable"
	case errors.Is(err, context.DeadlineExceeded):
		status, title = http.StatusGatewayTimeout, "Timed out"
	case errors.Is(err, context.Canceled):
		return
	}
	if status == http.StatusInternalServerError {
		c.log.Error("console: operation failed", "path", r.URL.Path, "err", err)
	}
	c.fail(w, r, status, title, err.Error())
}

var funcs = template.FuncMap{
	"schedule": scheduleText,
	"reason":   reason,
	"syncurl":  syncURL,
	// pagequery is the query string of a syncs page: its filters and the
	// key it lists after.
	"pagequery": func(q, health, worker, after string) template.URL {
		v := url.Values{}
		for k, x := range map[string]string{"q": q, "health": health, "worker": worker, "after": after} {
			if x != "" {
				v.Set(k, x)
			}
		}
		return template.URL(v.Encode())
	},
	"runurl": runURL,
	"asset":  assetURL,
	"ts":     timeTag,
	"dur":    fmtDur,
	"since": func(from, to time.Time) string {
		if from.IsZero() {
			return ""
		}
		if to.IsZero() {
			to = time.Now()
		}
		return fmtDur(to.Sub(from))
	},
	"health": healthClass,
	"sevclass": func(s string) string {
		return cmp.Or(map[string]string{"error": "h-error", "warning": "h-warning", "resolved": "h-healthy"}[s], "h-initializing")
	},
	"delclass": func(s string) string {
		return cmp.Or(map[string]string{"delivered": "h-healthy", "failed": "h-error", "retrying": "h-warning"}[s], "h-initializing")
	},
	"status":   statusClass,
	"rows":     rowsSoFar,
	"counter":  func(m map[string]int64, k string) int64 { return m[k] },
	"pct":      func(a, b float64) float64 { return pct(a, b) },
	"used":     func(p ops.PacerView) float64 { return pct(float64(p.Stats.LastMinute), p.PerMinute) },
	"shortid":  shortID,
	"json":     prettyJSON,
	"sortkeys": sortedKeys,
	"add":      func(a, b int) int { return a + b },
	"num":      fmtNum,
	"f1":       func(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) },
	"share":    func(f float64) string { return strconv.FormatFloat(math.Round(f*1000)/10, 'f', -1, 64) + "%" },
	"list":     func(s []string) string { return strings.Join(s, ", ") },
	"has":      func(s []string, v string) bool { return slices.Contains(s, v) },
	"attrs":    logAttrs,
	"per":      perText,
	"float":    func(n int) float64 { return float64(n) },
	"consumers": func(st pacer.Stats) []string {
		out := make([]string, 0, len(st.PerConsumer))
		for k := range st.PerConsumer {
			out = append(out, k)
		}
		// Active ones first, then by name.
		sort.Slice(out, func(i, j int) bool {
			ai, aj := slices.Contains(st.Active, out[i]), slices.Contains(st.Active, out[j])
			if ai != aj {
				return ai
			}
			return out[i] < out[j]
		})
		return out
	},
	"avgwait": func(waits int64, total time.Duration) string {
		if waits == 0 {
			return "—"
		}
		return fmtDur(total / time.Duration(waits))
	},
	"truncate": func(s string, n int) string {
		if r := []rune(s); len(r) > n {
			return string(r[:n]) + "…"
		}
		return s
	},
}

// timeTag renders a time for the browser to show in the viewer's zone and
// relative to now; without script it reads as UTC.
func timeTag(t time.Time) template.HTML {
	if t.IsZero() {
		return template.HTML(`<span class="muted">—</span>`)
	}
	u := t.UTC()
	return template.HTML(`<time datetime="` + u.Format(time.RFC3339Nano) + `" title="` + u.Format("2006-01-02 15:04:05 UTC") + `">` +
		u.Format("2006-01-02 15:04:05 UTC") + `</time>`)
}

func fmtDur(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	switch {
	case d < time.Second:
		return strconv.FormatInt(d.Milliseconds(), 10) + " ms"
	case d < time.Minute:
		return strconv.FormatFloat(math.Round(d.Seconds()*10)/10, 'f', -1, 64) + " s"
	case d < time.Hour:
		return fmt.Sprintf("%dm %02ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh %02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd %dh", int(d.Hours())/24, int(d.Hours())%24)
}

func fmtNum(n int64) string {
	s := strconv.FormatInt(n, 10)
	if n < 10000 && n > -10000 {
		return s
	}
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 && s[i-1] != '-' {
			b.WriteRune(' ')
		}
		b.WriteRune(r)
	}
	return b.String()
}

func healthClass(h ops.Health) string { return "h-" + strings.ToLower(string(h)) }

func statusClass(s string) string {
	switch s {
	case rdb.RunSucceeded:
		return "h-healthy"
	case rdb.RunRunning:
		return "h-running"
	case rdb.RunParked:
		return "h-disabled"
	case rdb.RunWarning:
		return "h-warning"
	case rdb.RunFailed:
		return "h-error"
	}
	return "h-initializing"
}

// rowsSoFar counts the rows a run handled: written, unchanged or skipped.
func rowsSoFar(v any) int64 {
	var c map[string]int64
	switch r := v.(type) {
	case *rdb.Run:
		if r != nil {
			c = r.Counters
		}
	case rdb.Run:
		c = r.Counters
	}
	return c["created"] + c["updated"] + c["unchanged"] + c["skipped"]
}

func pct(a, b float64) float64 {
	if b <= 0 {
		return 0
	}
	return math.Min(1, a/b)
}

func shortID(s string) string {
	if len(s) > 12 {
		return s[:12] + "…"
	}
	return s
}

func prettyJSON(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	var out bytes.Buffer
	if json.Indent(&out, b, "", "  ") != nil {
		return string(b)
	}
	return out.String()
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// logAttrs are a log line's attributes as name/value pairs, sorted, without
// the run and sync the page is about; maps read "k v, k v".
func logAttrs(m map[string]any) [][2]string {
	out := make([][2]string, 0, len(m))
	for k, v := range m {
		if k == "run" || k == "sync" {
			continue
		}
		var s string
		switch x := v.(type) {
		case string:
			s = x
		case map[string]any:
			parts := make([]string, 0, len(x))
			for mk, mv := range x {
				parts = append(parts, fmt.Sprintf("%s %v", mk, mv))
			}
			sort.Strings(parts)
			s = strings.Join(parts, ", ")
		default:
			b, err := json.Marshal(v)
			if err != nil {
				s = fmt.Sprint(v)
			} else {
				s = string(b)
			}
		}
		out = append(out, [2]string{k, s})
	}
	sort.Slice(out, func(i, j int) bool { return out[i][0] < out[j][0] })
	return out
}

// perText says a budget in words: "180 a minute", "10 a second", "50 per 5m 00s".
func perText(n int, every time.Duration) string {
	switch every {
	case time.Second:
		return strconv.Itoa(n) + " requests a second"
	case time.Minute:
		return strconv.Itoa(n) + " requests a minute"
	case time.Hour:
		return strconv.Itoa(n) + " requests an hour"
	}
	return strconv.Itoa(n) + " requests per " + fmtDur(every)
}
