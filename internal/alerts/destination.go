package alerts

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Format is the body a destination receives.
type Format string

// Formats.
const (
	// FormatSlack sends {"text": …}: Slack, Mattermost and Microsoft Teams
	// incoming webhooks take it.
	FormatSlack Format = "slack"
	// FormatJSON sends the Notification as JSON (docs/alerts.md).
	FormatJSON Format = "json"
)

// Destination is where notifications go.
type Destination struct {
	URL    string
	Format Format
}

// ID names the destination in Redis: a digest, so that the URL (which
// often carries a secret) is never stored.
func (d Destination) ID() string {
	h := sha256.Sum256([]byte(string(d.Format) + "\x00" + d.URL))
	return hex.EncodeToString(h[:6])
}

// String is the destination without its URL's path and query, which
// often carry a secret.
func (d Destination) String() string {
	u, err := url.Parse(d.URL)
	if err != nil {
		return string(d.Format) + " destination"
	}
	return fmt.Sprintf("%s %s://%s/…", d.Format, u.Scheme, u.Host)
}

// ParseDestinations reads destinations from the values of a variable
// (each value may hold several comma-separated URLs). name is the
// variable, for errors.
func ParseDestinations(name string, f Format, values []string) ([]Destination, error) {
	var out []Destination
	for _, v := range values {
		for _, raw := range strings.Split(v, ",") {
			raw = strings.TrimSpace(raw)
			if raw == "" {
				continue
			}
			u, err := url.Parse(raw)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return nil, fmt.Errorf("%s: %q is not an http(s) URL: give the full address of the incoming webhook, e.g. https://hooks.slack.com/services/…", name, redactURL(raw))
			}
			out = append(out, Destination{URL: raw, Format: f})
		}
	}
	return out, nil
}

// redactURL keeps a bad value's scheme and host for an error message.
func redactURL(raw string) string {
	if i := strings.Index(raw, "://"); i >= 0 {
		rest := raw[i+3:]
		if j := strings.IndexAny(rest, "/?#"); j >= 0 {
			return raw[:i+3] + rest[:j] + "/…"
		}
		return raw
	}
	if len(raw) > 12 {
		return raw[:12] + "…"
	}
	return raw
}

// Headers of a delivery.
const (
	HeaderID        = "X-Synq-Alert-Id"
	HeaderTimestamp = "X-Synq-Timestamp"
	// HeaderSignature is "sha256=" and the hex HMAC-SHA256, keyed with
	// SYNQ_ALERT_SECRET, of the timestamp header, a ".", and the body.
	HeaderSignature = "X-Synq-Signature"
)

// Sign returns HeaderSignature's value for a body sent at ts.
func Sign(secret []byte, ts time.Time, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(strconv.FormatInt(ts.Unix(), 10)))
	m.Write([]byte("."))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// body is what d receives for n.
func (d Destination) body(n Notification) ([]byte, error) {
	if d.Format == FormatJSON {
		return json.Marshal(n)
	}
	return json.Marshal(map[string]string{"text": n.Text})
}

// send delivers n to d once.
func (d Destination) send(ctx context.Context, c *http.Client, secret []byte, n Notification, now time.Time) error {
	body, err := d.body(n)
	if err != nil {
		return fmt.Errorf("encode: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "synq-alerts")
	req.Header.Set(HeaderID, n.ID)
	if len(secret) > 0 {
		req.Header.Set(HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
		req.Header.Set(HeaderSignature, Sign(secret, now, body))
	}
	resp, err := c.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL may carry a secret
		}
		return fmt.Errorf("POST to %s: %w", d, err)
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("POST to %s: %s: %s", d, resp.Status, strings.TrimSpace(string(snippet)))
	}
	return nil
}
