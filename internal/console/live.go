package console

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// liveEvery is how often a run's live stream looks for news.
const liveEvery = 500 * time.Millisecond

// runEvents streams a run as server-sent events until it ends: "summary"
// (status, current page, counters, error) and "pages" (the page table) as
// HTML whenever they change, "log" with the new log lines (the event id is
// the sequence number of the next line, so a reconnecting browser resumes
// where it was, past the log cap too), and "end" once the run has ended and every line was sent.
func (c *Console) runEvents(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	ctx := r.Context()
	if _, err := c.ops.Run(ctx, id); err != nil {
		c.failErr(w, r, err)
		return
	}
	fl, ok := w.(http.Flusher)
	if !ok {
		c.fail(w, r, http.StatusInternalServerError, "Streaming unsupported", "this server cannot stream events")
		return
	}
	var from int64
	if v := r.Header.Get("Last-Event-ID"); v != "" {
		from, _ = strconv.ParseInt(v, 10, 64)
	} else if v := r.URL.Query().Get("log"); v != "" {
		from, _ = strconv.ParseInt(v, 10, 64)
	}
	from = max(from, 0)
	// The stream lasts as long as the run: the server's read and write
	// timeouts are for ordinary requests. (An expired read deadline would
	// also cancel the request's context.)
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	csrf := c.csrfToken(sessionOf(ctx))
	var lastSummary, lastPages string
	beat := time.Now()
	send := func(event, id, data string) error {
		var b strings.Builder
		b.WriteString("event: " + event + "\n")
		if id != "" {
			b.WriteString("id: " + id + "\n")
		}
		// A browser ends an event's line at \r, \n or \r\n: text with a
		// bare \r (a log line's) must not start a line of its own, which
		// could inject an event.
		data = strings.ReplaceAll(strings.ReplaceAll(data, "\r\n", "\n"), "\r", "\n")
		for _, line := range strings.Split(data, "\n") {
			b.WriteString("data: " + line + "\n")
		}
		b.WriteString("\n")
		if _, err := w.Write([]byte(b.String())); err != nil {
			return err
		}
		fl.Flush()
		beat = time.Now()
		return nil
	}
	exec := func(name string, v any) (string, error) {
		var buf bytes.Buffer
		err := templates.ExecuteTemplate(&buf, name, v)
		return buf.String(), err
	}
	frag := func(name string, data any) (string, error) {
		return exec(name, page{Data: data, CSRF: csrf, Now: c.cfg.Now()})
	}
	t := time.NewTicker(liveEvery)
	defer t.Stop()
	for {
		d, err := c.runData(r, id)
		if err != nil {
			_ = send("failure", "", "the run could not be read: "+err.Error())
			return
		}
		// The log after the status: the lines stored with the run's end
		// are then never missed.
		lines, err := c.ops.Logs(ctx, id, from)
		if err != nil {
			_ = send("failure", "", "the run's log could not be read: "+err.Error())
			return
		}
		summary, err := frag("run-summary", d)
		if err != nil {
			c.log.Error("console: rendering a run summary failed", "err", err)
			return
		}
		if summary != lastSummary {
			if send("summary", "", summary) != nil {
				return
			}
			lastSummary = summary
		}
		pages, err := frag("run-pages", d)
		if err != nil {
			c.log.Error("console: rendering a run's pages failed", "err", err)
			return
		}
		if pages != lastPages {
			if send("pages", "", pages) != nil {
				return
			}
			lastPages = pages
		}
		if len(lines) > 0 {
			html, err := exec("log-lines", lines)
			if err != nil {
				c.log.Error("console: rendering log lines failed", "err", err)
				return
			}
			// By sequence number: lines the log cap dropped meanwhile are
			// skipped, not waited for.
			from = lines[len(lines)-1].Seq + 1
			if send("log", strconv.FormatInt(from, 10), html) != nil {
				return
			}
		}
		if !d.Active && len(lines) == 0 {
			_ = send("end", "", d.Run.Status)
			return
		}
		if time.Since(beat) > 15*time.Second {
			// A comment keeps proxies from closing a quiet stream.
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
				return
			}
			fl.Flush()
			beat = time.Now()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
