package console

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

const (
	sessionCookie = "synq_console"
	csrfField     = "csrf"
	csrfHeader    = "X-CSRF-Token"
)

func deriveKey(token string) []byte {
	m := hmac.New(sha256.New, []byte(token))
	m.Write([]byte("synq console session key v1"))
	return m.Sum(nil)
}

func (c *Console) mac(parts ...string) []byte {
	m := hmac.New(sha256.New, c.key)
	for _, p := range parts {
		m.Write([]byte(p))
		m.Write([]byte{0})
	}
	return m.Sum(nil)
}

// session is who is asking: its id binds the CSRF token.
type session struct {
	ID string
}

type ctxKey struct{}

func sessionOf(ctx context.Context) session {
	s, _ := ctx.Value(ctxKey{}).(session)
	return s
}

// newSessionCookie is "<expiry unix>.<random id>.<mac>": stateless, so any
// scheduler replica (sharing the token) accepts it.
func (c *Console) newSessionCookie(r *http.Request) *http.Cookie {
	var b [16]byte
	_, _ = rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	exp := c.cfg.Now().Add(c.cfg.SessionTTL)
	payload := strconv.FormatInt(exp.Unix(), 10) + "." + id
	v := payload + "." + base64.RawURLEncoding.EncodeToString(c.mac("session", payload))
	return &http.Cookie{Name: sessionCookie, Value: v, Path: "/", Expires: exp, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil}
}

// readSession checks the session cookie's signature and expiry.
func (c *Console) readSession(r *http.Request) (session, bool) {
	ck, err := r.Cookie(sessionCookie)
	if err != nil {
		return session{}, false
	}
	i := strings.LastIndexByte(ck.Value, '.')
	if i < 0 {
		return session{}, false
	}
	payload, sig := ck.Value[:i], ck.Value[i+1:]
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, c.mac("session", payload)) {
		return session{}, false
	}
	expS, id, ok := strings.Cut(payload, ".")
	exp, err := strconv.ParseInt(expS, 10, 64)
	if !ok || err != nil || c.cfg.Now().Unix() >= exp {
		return session{}, false
	}
	return session{ID: id}, true
}

// csrfToken is bound to the session: a token from another session (or
// from before a re-login) is refused.
func (c *Console) csrfToken(s session) string {
	return base64.RawURLEncoding.EncodeToString(c.mac("csrf", s.ID))
}

func (c *Console) csrfOK(r *http.Request, s session) bool {
	got := r.Header.Get(csrfHeader)
	if got == "" {
		got = r.PostFormValue(csrfField)
	}
	want := c.csrfToken(s)
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// loopbackHost says whether a request's Host names this machine's loopback:
// without a token the console answers nothing else, so a page of another
// site whose name resolves to 127.0.0.1 (DNS rebinding) gets nothing.
func loopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// guard authenticates every request and checks the CSRF token of every
// state-changing one. The login page, its form and the assets are open.
func (c *Console) guard(next http.Handler) http.Handler {
	open := func(r *http.Request) bool {
		return r.URL.Path == "/login" || strings.HasPrefix(r.URL.Path, "/static/")
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Frame-Options", "DENY")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "same-origin")
		w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
		var s session
		if c.cfg.Token == "" {
			if !loopbackHost(r.Host) {
				c.fail(w, r, http.StatusForbidden, "Not served on this address",
					"Without SYNQ_CONTROL_TOKEN the console answers only on a loopback address (127.0.0.1, localhost). Open it at http://127.0.0.1:<port>/, or set SYNQ_CONTROL_TOKEN on the scheduler to serve it on other addresses behind a login.")
				return
			}
			s = session{ID: "local"}
		} else if got, ok := c.readSession(r); ok {
			s = got
		} else if !open(r) {
			if r.Method == http.MethodGet || r.Method == http.MethodHead {
				http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			c.fail(w, r, http.StatusUnauthorized, "Log in first", "Your session ended or you are not logged in: log in with the scheduler's SYNQ_CONTROL_TOKEN, then try again.")
			return
		}
		r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, s))
		if r.Method != http.MethodGet && r.Method != http.MethodHead && r.URL.Path != "/login" && !c.csrfOK(r, s) {
			c.fail(w, r, http.StatusForbidden, "Request refused (CSRF)", "The form's security token is missing or belongs to another session: reload the page and try again.")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// sameSitePath returns next when it is a path of this site, and "/"
// otherwise. Browsers drop tabs and newlines from URLs and read \ as /,
// so "/\t/evil.example/" or "/\\evil.example" would leave the site: text
// with either, or that parses to anything but a rooted path, is refused.
func sameSitePath(next string) string {
	if next == "" || strings.ContainsFunc(next, func(r rune) bool { return r < 0x20 || r == 0x7f || r == '\\' }) {
		return "/"
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Opaque != "" || u.User != nil || u.Host != "" ||
		!strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") {
		return "/"
	}
	return next
}

// login serves the login form and checks the token it posts.
func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	next := sameSitePath(r.FormValue("next"))
	if c.cfg.Token == "" {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	data := map[string]any{"Next": next}
	status := 0
	if r.Method == http.MethodPost {
		tok := r.PostFormValue("token")
		if subtle.ConstantTimeCompare([]byte(tok), []byte(c.cfg.Token)) == 1 {
			http.SetCookie(w, c.newSessionCookie(r))
			http.Redirect(w, r, next, http.StatusSeeOther)
			return
		}
		// A wrong token costs a moment: guessing stays slow.
		time.Sleep(300 * time.Millisecond)
		status = http.StatusUnauthorized
		data["Error"] = "Wrong token: use the scheduler's SYNQ_CONTROL_TOKEN."
	}
	c.render(w, r, "login", page{Title: "Log in", Data: data, Status: status})
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}
