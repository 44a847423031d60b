package notion

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// Defaults.
const (
	BaseURLDefault    = "https://api.notion.com"
	VersionDefault    = "2025-09-03"
	TimeoutDefault    = 30 * time.Second
	MaxRetriesDefault = 3
	BackoffDefault    = 250 * time.Millisecond
	maxBackoff        = 20 * time.Second
)

// Request describes one HTTP attempt to the hooks. Route is the templated
// path ("PATCH /v1/pages/{id}"), fit for metric labels.
type Request struct {
	Method string
	Path   string
	Route  string
	Write  bool
}

// Config configures a Client.
type Config struct {
	// BaseURL defaults to $NOTION_API_BASE_URL, else https://api.notion.com.
	BaseURL string
	// Token is the integration token (NOTION_API_TOKEN). Required.
	Token string
	// Version is the Notion-Version header, default 2025-09-03.
	Version string
	// Timeout bounds each HTTP attempt (the context's deadline applies too,
	// whichever is sooner). Default 30s.
	Timeout time.Duration
	// HTTPClient defaults to a client with pooled keep-alive connections.
	HTTPClient *http.Client
	// MaxRetries is how many times a retryable failure is retried (default
	// 3; negative means never).
	MaxRetries int
	// Backoff is the first retry delay, doubled each retry, with jitter
	// (default 250ms). A Retry-After from Notion overrides it when longer.
	Backoff time.Duration
	// Before is called before every HTTP attempt; the shared pacer waits
	// here. An error aborts the call (nothing was sent).
	Before func(ctx context.Context, r Request) error
	// OnRateLimited is called on every 429 with the budget it names and
	// its Retry-After, so every executor can cool that budget down, not
	// just this one.
	OnRateLimited func(ctx context.Context, rl RateLimit)
	// After is called after every HTTP attempt: status is 0 when no
	// response arrived.
	After func(r Request, status int, d time.Duration, err error)
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Client calls the Notion API. It is safe for concurrent use.
type Client struct {
	cfg  Config
	base string
	http *http.Client
	log  *slog.Logger
}

// New returns a client for cfg.
func New(cfg Config) (*Client, error) {
	if strings.TrimSpace(cfg.Token) == "" {
		return nil, errors.New("notion: no API token: set NOTION_API_TOKEN (Config.Token) to the integration's secret")
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = os.Getenv("NOTION_API_BASE_URL")
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = BaseURLDefault
	}
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" {
		return nil, fmt.Errorf("notion: base URL %q is not an absolute http(s) URL without query: set NOTION_API_BASE_URL (Config.BaseURL) like %s", cfg.BaseURL, BaseURLDefault)
	}
	if cfg.Version == "" {
		cfg.Version = VersionDefault
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = TimeoutDefault
	}
	if cfg.MaxRetries == 0 {
		cfg.MaxRetries = MaxRetriesDefault
	} else if cfg.MaxRetries < 0 {
		cfg.MaxRetries = 0
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = BackoffDefault
	}
	hc := cfg.HTTPClient
	if hc == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		// Executors run several writers against one host.
		t.MaxIdleConnsPerHost = 32
		hc = &http.Client{Transport: t}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Client{cfg: cfg, base: strings.TrimRight(cfg.BaseURL, "/"), http: hc, log: log}, nil
}

// BaseURL is the API root the client calls.
func (c *Client) BaseURL() string { return c.base }
