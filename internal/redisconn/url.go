// Package redisconn is the one place synq connects to Redis: it parses
// REDIS_URL in its three forms, opens a go-redis client that both synq's
// code and asynq use, checks at start-up that the server answers (with one
// actionable line when it does not), and watches for outages while the
// process runs (Monitor).
//
// The forms (docs/operations.md, "Redis with Sentinel"):
//
//	redis://[user:password@]host:port[/db]           a single Redis
//	rediss://[user:password@]host:port[/db]          the same over TLS
//	redis+sentinel://[user:password@]host:port[,host:port…]/<master-name>[/<db>]
//	rediss+sentinel://…                              Sentinel, TLS to the Sentinels and the master
//
// In the Sentinel form the hosts are the Sentinels (port 26379 when
// omitted) and user:password are the master's (the Redis that holds the
// data). Sentinels that require a password of their own take it from the
// query: ?sentinel_password=…&sentinel_username=…. Every form accepts
// go-redis's tuning parameters in the query (dial_timeout=3s,
// read_timeout=5s, pool_size=20, skip_verify=true with TLS, …).
package redisconn

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// Var is the environment variable every binary reads the URL from.
const Var = "REDIS_URL"

// URLDefault is used when REDIS_URL is empty.
const URLDefault = "redis://127.0.0.1:6379/0"

// SentinelPortDefault is the port of a Sentinel address given without one.
const SentinelPortDefault = "26379"

// forms is the fix every malformed URL gets.
const forms = "use redis://[user:password@]host:port[/db], rediss://… for TLS, or redis+sentinel://[user:password@]host:port[,host:port…]/<master-name>[/<db>]"

// Target is a parsed REDIS_URL: where Redis is and how to reach it.
// Exactly one of Options and Failover is set.
type Target struct {
	// Options is set for redis:// and rediss:// URLs.
	Options *redis.Options
	// Failover is set for redis+sentinel:// and rediss+sentinel:// URLs.
	Failover *redis.FailoverOptions
	redacted string
}

// Sentinel reports whether the target is reached through Sentinels.
func (t *Target) Sentinel() bool { return t.Failover != nil }

// String is the URL with its passwords hidden.
func (t *Target) String() string { return t.redacted }

// Where names the server for messages: "127.0.0.1:6379", or
// `master "mymaster" via Sentinels 10.0.0.1:26379,10.0.0.2:26379`.
func (t *Target) Where() string {
	if t.Failover != nil {
		return fmt.Sprintf("master %q via Sentinels %s", t.Failover.MasterName, strings.Join(t.Failover.SentinelAddrs, ","))
	}
	return t.Options.Addr
}

// NewClient returns a client for the target without contacting it. Both
// forms give a *redis.Client (go-redis's failover client is one), which is
// a redis.UniversalClient for synq's code and asynq's
// NewServerFromRedisClient / NewClientFromRedisClient.
func (t *Target) NewClient() *redis.Client {
	quietDriver()
	if t.Failover != nil {
		o := *t.Failover
		o.SentinelAddrs = append([]string(nil), o.SentinelAddrs...)
		return redis.NewFailoverClient(&o)
	}
	o := *t.Options
	return redis.NewClient(&o)
}

// Parse parses a REDIS_URL; "" is URLDefault. Its errors are one line that
// names REDIS_URL, hides passwords and says which forms work.
func Parse(raw string) (*Target, error) {
	if strings.TrimSpace(raw) == "" {
		raw = URLDefault
	}
	redacted := Redact(raw)
	t, err := parse(raw)
	if err != nil {
		why := err.Error()
		// The driver's reasons quote parts of the URL, and where a
		// password was written unescaped, parts of it (cut short, so that
		// no search for the password finds them). The redacted URL holds
		// no secret: when it fails the same way, its reason is the one
		// told. When only the real URL fails, a secret is what is wrong,
		// and the reason goes out with every secret masked.
		if redacted != raw {
			if _, rerr := parse(redacted); rerr != nil {
				why = rerr.Error()
			} else {
				why = scrub(why, raw)
			}
		}
		return nil, &Error{Kind: BadURL, URL: redacted, Problem: "not a Redis URL (" + why + ")", Fix: forms}
	}
	t.redacted = redacted
	return t, nil
}

// parse is Parse without the care for secrets in its errors.
func parse(raw string) (*Target, error) {
	p, err := split(raw)
	if err != nil {
		return nil, err
	}
	// Checked before the driver sees the URL: a "port" that is not a
	// number is most often the start of a password holding an unescaped
	// '?', '/' or '#', and the fix is to escape it.
	for _, h := range strings.Split(p.hosts, ",") {
		if c := badPort(h); c >= 0 {
			where := fmt.Sprintf("the port after host %q", h[:c])
			if c == 0 {
				where = "no host, and the port"
			}
			return nil, fmt.Errorf("%s is not a number; a password holding '?', '/', '@' or '#' must be %%-escaped (%%3F, %%2F, %%40, %%23)", where)
		}
	}
	t := &Target{}
	switch p.scheme {
	case "redis", "rediss", "unix":
		// go-redis parses the rest, but never sees the credentials: its
		// errors quote the URL, and a password holding a '/' or '@' would
		// end up in them.
		opt, err := redis.ParseURL(p.scheme + "://" + p.hosts + p.path + p.query)
		if err != nil {
			return nil, driverErr(err)
		}
		opt.Username, opt.Password = p.user, p.password
		t.Options = opt
	case "redis+sentinel", "rediss+sentinel":
		fo, err := parseSentinel(p)
		if err != nil {
			return nil, err
		}
		t.Failover = fo
	case "":
		return nil, errors.New("no scheme")
	default:
		return nil, fmt.Errorf("unknown scheme %q", p.scheme)
	}
	return t, nil
}

// parts are a URL's pieces, credentials decoded.
type parts struct {
	scheme, user, password, hosts, path, query string
	hasPassword                                bool
}

// split cuts a URL by hand: the Sentinel form's comma-separated host list
// is not something net/url promises to accept, and credentials must never
// reach an error message.
func split(raw string) (parts, error) {
	var p parts
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return p, errors.New(`no "scheme://"`)
	}
	p.scheme = strings.ToLower(scheme)
	if i := credsEnd(rest); i >= 0 {
		userinfo := rest[:i]
		rest = rest[i+1:]
		user, pass, hasPass := strings.Cut(userinfo, ":")
		var err error
		if p.user, err = url.PathUnescape(user); err != nil {
			return p, errors.New("the user name has a bad %-escape")
		}
		if p.password, err = url.PathUnescape(pass); err != nil {
			return p, errors.New("the password has a bad %-escape")
		}
		p.hasPassword = hasPass
	}
	if i := strings.IndexAny(rest, "?#"); i >= 0 {
		if rest[i] == '#' {
			return p, errors.New("a URL fragment ('#') is not allowed")
		}
		p.query = rest[i:]
		rest = rest[:i]
	}
	if i := strings.Index(rest, "/"); i >= 0 {
		p.hosts, p.path = rest[:i], rest[i:]
	} else {
		p.hosts = rest
	}
	return p, nil
}

// credsEnd is the index of the '@' that ends the credentials of a URL
// without its "scheme://", or -1. It is the last '@' not inside the query,
// so that an unescaped '@', '/' or '?' in a password stays in the password
// (and out of error messages and logs).
func credsEnd(rest string) int {
	for {
		at := strings.LastIndex(rest, "@")
		if at < 0 {
			return -1
		}
		// A '?' or '#' before it starts the query only if what follows
		// looks like one (name=value); else it is part of the password.
		q := strings.IndexAny(rest[:at], "?#")
		if q < 0 || !strings.Contains(rest[q:at], "=") {
			return at
		}
		rest = rest[:q]
	}
}

// sentinelOnly are the query parameters the Sentinel form reads itself.
var sentinelOnly = map[string]string{
	"master_name": "the master name goes in the path: redis+sentinel://host:port/<master-name>",
	"addr":        "list every Sentinel in the host part: redis+sentinel://host1:port,host2:port/<master-name>",
	"username":    "the master's user name goes before the hosts: redis+sentinel://user:password@host:port/<master-name>",
	"password":    "the master's password goes before the hosts: redis+sentinel://user:password@host:port/<master-name>",
	"db":          "the database number goes after the master name: redis+sentinel://host:port/<master-name>/<db>",
}

func parseSentinel(p parts) (*redis.FailoverOptions, error) {
	var addrs []string
	for _, h := range strings.Split(p.hosts, ",") {
		h = strings.TrimSpace(h)
		if h == "" {
			return nil, errors.New("an empty Sentinel address: list them as host:port,host:port")
		}
		host, port, err := net.SplitHostPort(h)
		if err != nil {
			// No port (a bare name or a bracketed IPv6 literal): Sentinel's.
			host, port = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]"), SentinelPortDefault
			if strings.ContainsAny(host, "[]/") || (strings.Contains(host, ":") && !strings.HasPrefix(h, "[")) {
				return nil, fmt.Errorf("Sentinel address %q is not host:port", h)
			}
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("Sentinel address %q has a bad port", h)
		}
		if host == "" {
			return nil, fmt.Errorf("Sentinel address %q has no host", h)
		}
		addrs = append(addrs, net.JoinHostPort(host, port))
	}
	segs := strings.Split(strings.Trim(p.path, "/"), "/")
	if p.path == "" || segs[0] == "" {
		return nil, errors.New("no master name: redis+sentinel://host:port/<master-name>[/<db>]")
	}
	if len(segs) > 2 {
		return nil, fmt.Errorf("path %q has too many parts: want /<master-name>[/<db>]", p.path)
	}
	master, err := url.PathUnescape(segs[0])
	if err != nil {
		return nil, errors.New("the master name has a bad %-escape")
	}
	db := 0
	if len(segs) == 2 {
		if db, err = strconv.Atoi(segs[1]); err != nil || db < 0 {
			return nil, fmt.Errorf("database %q is not a number ≥ 0", segs[1])
		}
	}
	q, err := url.ParseQuery(strings.TrimPrefix(p.query, "?"))
	if err != nil {
		return nil, errors.New("the query string is malformed")
	}
	for k, why := range sentinelOnly {
		if q.Has(k) {
			return nil, fmt.Errorf("query parameter %q is not used in the Sentinel form: %s", k, why)
		}
	}
	sentinelUser, sentinelPass := q.Get("sentinel_username"), q.Get("sentinel_password")
	q.Del("sentinel_username")
	q.Del("sentinel_password")
	// go-redis parses the tuning parameters; everything that names a place
	// or a secret is set here.
	scheme := "redis"
	if p.scheme == "rediss+sentinel" {
		scheme = "rediss"
	}
	q.Set("master_name", master)
	fo, err := redis.ParseFailoverURL(scheme + "://" + addrs[0] + "?" + q.Encode())
	if err != nil {
		return nil, driverErr(err)
	}
	fo.SentinelAddrs = addrs
	fo.MasterName = master
	fo.DB = db
	fo.Username, fo.Password = p.user, p.password
	fo.SentinelUsername, fo.SentinelPassword = sentinelUser, sentinelPass
	if fo.TLSConfig != nil {
		// go-redis names the first Sentinel as the TLS server of every
		// connection; left empty, each dial verifies the host it dials.
		fo.TLSConfig.ServerName = ""
		fo.TLSConfig.MinVersion = tls.VersionTLS12
	}
	return fo, nil
}

// driverErr strips go-redis's "redis: " prefix and net/url's quoting of the
// whole URL.
func driverErr(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return errors.New(strings.TrimPrefix(err.Error(), "redis: "))
}

// Redact hides the passwords of a Redis URL in any form, parseable or
// not: the password in the credentials and any query parameter whose name
// holds "password".
func Redact(raw string) string {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		// Not a URL at all: it may be a bare password pasted by mistake.
		if raw == "" {
			return ""
		}
		return "(not a URL)"
	}
	creds := ""
	if i := credsEnd(rest); i >= 0 {
		user, _, hasPass := strings.Cut(rest[:i], ":")
		if hasPass {
			user += ":xxxxx"
		}
		creds, rest = user+"@", rest[i+1:]
	}
	if creds == "" {
		if masked, bad := redactPorts(rest); bad {
			return scheme + "://" + masked
		}
	}
	query := ""
	if i := strings.IndexAny(rest, "?#"); i >= 0 {
		rest, query = rest[:i], rest[i:]
	}
	return scheme + "://" + creds + rest + redactQuery(query)
}

// redactPorts handles a URL whose credentials could not be told apart:
// in "redis://:pa?ss=1@host" the '?' ends the host part by the URL rules,
// so ":pa" reads as a port, but it is the start of a password that should
// have been %-escaped. A port that is not a number is taken as such a
// password, and everything from its ':' on (path and query included, where
// the rest of the password may be) is hidden: a redacted URL may say too
// little, never too much.
func redactPorts(rest string) (string, bool) {
	hosts := rest
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		hosts = rest[:i]
	}
	off := 0
	for _, h := range strings.Split(hosts, ",") {
		if c := badPort(h); c >= 0 {
			return rest[:off+c+1] + "xxxxx…", true
		}
		off += len(h) + 1
	}
	return rest, false
}

// badPort is the index of the ':' before a host's port when that port is
// not a number, else -1. "[::1]:6379" is an IPv6 address and its port.
func badPort(h string) int {
	c := strings.Index(h, ":")
	if strings.HasPrefix(h, "[") {
		end := strings.Index(h, "]")
		if end < 0 {
			return -1 // no port can be told apart; the parser rejects it
		}
		c = -1
		if end+1 < len(h) {
			if h[end+1] != ':' {
				return end // text after the address is not a port
			}
			c = end + 1
		}
	}
	if c < 0 {
		return -1
	}
	if port := h[c+1:]; strings.Trim(port, "0123456789") != "" {
		return c
	}
	return -1
}

func redactQuery(q string) string {
	frag := ""
	if i := strings.Index(q, "#"); i >= 0 {
		q, frag = q[:i], "#…"
	}
	var b strings.Builder
	for _, p := range queryParams(q) {
		if p.secret {
			b.WriteString(p.sep + p.key + "=xxxxx")
		} else {
			b.WriteString(p.sep + p.key + p.rest)
		}
	}
	return b.String() + frag
}

type queryParam struct {
	sep, key, rest string // rest is "=value" or ""
	secret         bool
}

// queryParams splits a query at every '&' and ';', and also at a '?' in
// a value that is not a secret, so that a malformed query
// ("?a=1?sentinel_password=…") still shows which values are secrets.
func queryParams(q string) []queryParam {
	var out []queryParam
	for q != "" {
		p := queryParam{sep: q[:1]}
		q = q[1:]
		end := strings.IndexAny(q, "=&?;")
		if end < 0 {
			end = len(q)
		}
		p.key, q = q[:end], q[end:]
		// password, sentinel_password, and any other spelling of a secret.
		p.secret = strings.Contains(strings.ToLower(p.key), "pass")
		if strings.HasPrefix(q, "=") {
			stops := "&?;"
			if p.secret {
				stops = "&;"
			}
			end := strings.IndexAny(q[1:], stops)
			if end < 0 {
				end = len(q) - 1
			}
			p.rest, q = q[:end+1], q[end+1:]
		}
		out = append(out, p)
	}
	return out
}

// scrub replaces, in an error message about raw, every secret raw holds.
func scrub(msg, raw string) string {
	_, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return msg
	}
	var secrets []string
	if i := credsEnd(rest); i >= 0 {
		if _, pw, ok := strings.Cut(rest[:i], ":"); ok {
			secrets = append(secrets, pw)
			if un, err := url.PathUnescape(pw); err == nil {
				secrets = append(secrets, un)
			}
		}
		rest = rest[i+1:]
	}
	if i := strings.IndexAny(rest, "?"); i >= 0 {
		for _, p := range queryParams(rest[i:]) {
			if p.secret && len(p.rest) > 1 {
				secrets = append(secrets, p.rest[1:])
				if un, err := url.QueryUnescape(p.rest[1:]); err == nil {
					secrets = append(secrets, un)
				}
			}
		}
	}
	for _, s := range secrets {
		if s != "" {
			msg = strings.ReplaceAll(msg, s, "xxxxx")
		}
	}
	return msg
}
