package redisconn

import (
	"errors"
	"strings"
	"testing"
)

func TestParseForms(t *testing.T) {
	for _, tc := range []struct {
		raw                string
		addr, user, pass   string
		db                 int
		tls                bool
		master             string
		sentinels          []string
		sentUser, sentPass string
	}{
		{raw: "", addr: "127.0.0.1:6379"},
		{raw: "redis://10.0.0.5:6380/2", addr: "10.0.0.5:6380", db: 2},
		{raw: "redis://:p%40ss@h:1/0", addr: "h:1", pass: "p@ss"},
		// An unescaped '/', '@' or '?' in a password stays in the password.
		{raw: "redis://u:a/b@c?d@h:1/3", addr: "h:1", user: "u", pass: "a/b@c?d", db: 3},
		{raw: "rediss://u:pw@cache.example.com:6380", addr: "cache.example.com:6380", user: "u", pass: "pw", tls: true},
		{raw: "redis://h:1/0?dial_timeout=3s&pool_size=7", addr: "h:1"},
		{
			raw:    "redis+sentinel://s1:26379,s2:26380,s3/mymaster",
			master: "mymaster", sentinels: []string{"s1:26379", "s2:26380", "s3:26379"},
		},
		{
			raw:    "redis+sentinel://app:pw@10.0.0.1:5000,[::1]:5001,[::2]/cache/4?sentinel_password=spw&sentinel_username=su&read_timeout=2s",
			master: "cache", db: 4, user: "app", pass: "pw", sentUser: "su", sentPass: "spw",
			sentinels: []string{"10.0.0.1:5000", "[::1]:5001", "[::2]:26379"},
		},
		{raw: "rediss+sentinel://s1:1/m?skip_verify=true", master: "m", sentinels: []string{"s1:1"}, tls: true},
	} {
		t.Run(tc.raw, func(t *testing.T) {
			tg, err := Parse(tc.raw)
			if err != nil {
				t.Fatal(err)
			}
			if tc.master == "" {
				o := tg.Options
				if o == nil || tg.Sentinel() {
					t.Fatalf("not a single-Redis target: %+v", tg)
				}
				if o.Addr != tc.addr || o.Username != tc.user || o.Password != tc.pass || o.DB != tc.db || (o.TLSConfig != nil) != tc.tls {
					t.Fatalf("options = addr %q user %q pass %q db %d tls %v", o.Addr, o.Username, o.Password, o.DB, o.TLSConfig != nil)
				}
				return
			}
			f := tg.Failover
			if f == nil || !tg.Sentinel() {
				t.Fatalf("not a Sentinel target: %+v", tg)
			}
			if f.MasterName != tc.master || strings.Join(f.SentinelAddrs, " ") != strings.Join(tc.sentinels, " ") || f.DB != tc.db ||
				f.Username != tc.user || f.Password != tc.pass || f.SentinelUsername != tc.sentUser || f.SentinelPassword != tc.sentPass ||
				(f.TLSConfig != nil) != tc.tls {
				t.Fatalf("failover options = %+v", f)
			}
			if f.TLSConfig != nil && f.TLSConfig.ServerName != "" {
				t.Errorf("TLS server name pinned to %q: the master's certificate would be checked against a Sentinel's name", f.TLSConfig.ServerName)
			}
			if !strings.Contains(tg.Where(), `master "`+tc.master+`" via Sentinels `) {
				t.Errorf("Where() = %s", tg.Where())
			}
		})
	}
}

func TestParseRejectsWithOneLine(t *testing.T) {
	for raw, want := range map[string]string{
		"localhost:6379":                                                    `no "scheme://"`,
		"http://:hunter22@h:1":                                              `unknown scheme "http"`,
		"redis://:hunter22@h:1/x":                                           `invalid database number`,
		"redis://:hunter22@h:1/0?bogus=1":                                   `unexpected option: bogus`,
		"redis+sentinel://:hunter22@h:1":                                    "no master name",
		"redis+sentinel://:hunter22@h:1/":                                   "no master name",
		"redis+sentinel://:hunter22@h:1,/m":                                 "empty Sentinel address",
		"redis+sentinel://:hunter22@h:99999/m":                              "bad port",
		"redis+sentinel://:hunter22@h:1/m/x":                                `database "x"`,
		"redis+sentinel://:hunter22@h:1/m/0/1":                              "too many parts",
		"redis+sentinel://h:1/m?master_name=other":                          "the master name goes in the path",
		"redis+sentinel://h:1/m?password=hunter22":                          "the master's password goes before the hosts",
		"redis+sentinel://h:1/m?nope=1":                                     "unexpected option: nope",
		"redis://:hunter22%zz@h:1":                                          "bad %-escape",
		"redis://:hunter22?x=1@h:1/0":                                       "no host, and the port is not a number; a password holding '?'",
		"redis://user:hunter22/x?y=1@h:1":                                   `the port after host "user" is not a number`,
		"redis://h:port/0":                                                  `the port after host "h" is not a number`,
		"redis+sentinel://s1:1/m?dial_timeout=1?sentinel_password=hunter22": `invalid dial_timeout duration`,
	} {
		_, err := Parse(raw)
		var e *Error
		if !errors.As(err, &e) || e.Kind != BadURL {
			t.Errorf("Parse(%q) = %v, want a BadURL *Error", raw, err)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, want) || !strings.HasPrefix(msg, "REDIS_URL=") || !strings.Contains(msg, "redis+sentinel://[user:password@]host:port") {
			t.Errorf("Parse(%q) = %q, want it to name REDIS_URL, say %q and give the forms", raw, msg, want)
		}
		if strings.Contains(msg, "hunter") || strings.Contains(msg, "\n") {
			t.Errorf("Parse(%q) error leaks the password or spans lines: %q", raw, msg)
		}
	}
}

func TestRedact(t *testing.T) {
	for raw, want := range map[string]string{
		"redis://h:1/0":                    "redis://h:1/0",
		"redis://:pw@h:1/0":                "redis://:xxxxx@h:1/0",
		"rediss://user:pw@h:1":             "rediss://user:xxxxx@h:1",
		"redis://user@h:1":                 "redis://user@h:1",
		"redis://:a/b@c@h:1/0":             "redis://:xxxxx@h:1/0",
		"redis://:a?b@h:1/0":               "redis://:xxxxx@h:1/0",
		"redis+sentinel://:pw@s1,s2:2/m/1": "redis+sentinel://:xxxxx@s1,s2:2/m/1",
		"redis+sentinel://s1/m?sentinel_password=x@y&dial_timeout=1": "redis+sentinel://s1/m?sentinel_password=xxxxx&dial_timeout=1",
		"redis://:pw@h:1/0#frag":                                     "redis://:xxxxx@h:1/0#…",
		"hunter22":                                                   "(not a URL)",
		"redis://:pw@[bad/0?x=%%":                                    "redis://:xxxxx@[bad/0?x=%%",
		"redis://:pa?ss=1@h:1/0":                                     "redis://:xxxxx…",
		"redis://:Zq:?@=@":                                           "redis://:xxxxx…",
		"redis://user:pa/th?x=1@h:1":                                 "redis://user:xxxxx…",
		"redis+sentinel://s1:1,s2:pw?x=1@h/m":                        "redis+sentinel://s1:1,s2:xxxxx…",
		"redis://[::1]:6379/0?dial_timeout=1":                        "redis://[::1]:6379/0?dial_timeout=1",
		"redis://[::1]x/0":                                           "redis://[::1]xxxxx…",
	} {
		if got := Redact(raw); got != want {
			t.Errorf("Redact(%q) = %q, want %q", raw, got, want)
		}
	}
}

// No form of URL, parseable or not, lets its password into Redact's output
// or Parse's error.
func FuzzRedactHidesPasswords(f *testing.F) {
	for _, s := range []string{"hunter22", "a/b@c", "p?w=1", "x:y", "%zz", "@@@", "s p a c e"} {
		f.Add(s, "h:1/0")
		f.Add(s, "s1:1,s2:2/m/0?dial_timeout=1")
	}
	f.Fuzz(func(t *testing.T, pw, rest string) {
		// A marker no message or mask has: finding it means the start of
		// the password leaked, even when the parser took the rest of it
		// for something else.
		pw = "Zq" + pw
		if strings.Contains(rest, "Zq") {
			return
		}
		// In a query, '&', ';' and '#' end a raw value: such a password must
		// be %-escaped, as URLs require.
		if strings.ContainsAny(pw, "&;#") {
			return
		}
		for _, form := range [][2]string{
			{"redis://:", "@" + rest},
			{"rediss://user:", "@" + rest},
			{"redis+sentinel://user:", "@" + rest},
			{"redis+sentinel://" + rest + "?sentinel_password=", ""},
		} {
			raw := form[0] + pw + form[1]
			if strings.Contains(Redact(raw), "Zq") {
				t.Fatalf("Redact(%q) = %q shows the password", raw, Redact(raw))
			}
			if _, err := Parse(raw); err != nil && strings.Contains(err.Error(), "Zq") {
				t.Fatalf("Parse(%q) error shows the password: %v", raw, err)
			}
		}
	})
}
