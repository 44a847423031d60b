package emulator

import (
	"math"
	"sync"
	"time"
)

// rateLimiter is a token bucket per integration token: perMinute/60
// requests a second on average with bursts of up to perMinute/20 (three
// seconds' worth, at least 1), like Notion's "average of three requests
// per second, some bursts allowed".
type rateLimiter struct {
	mu        sync.Mutex
	perMinute int
	buckets   map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

func newRateLimiter(perMinute int) *rateLimiter {
	return &rateLimiter{perMinute: perMinute, buckets: map[string]*bucket{}}
}

func (r *rateLimiter) set(perMinute int) {
	r.mu.Lock()
	r.perMinute = perMinute
	r.buckets = map[string]*bucket{}
	r.mu.Unlock()
}

// allow takes one request for token; when refused it says how long to
// wait, rounded up to whole seconds as Retry-After carries them.
func (r *rateLimiter) allow(token string, now time.Time) (bool, time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.perMinute <= 0 {
		return true, 0
	}
	rate := float64(r.perMinute) / 60
	burst := math.Max(1, float64(r.perMinute)/20)
	b := r.buckets[token]
	if b == nil {
		b = &bucket{tokens: burst, at: now}
		r.buckets[token] = b
	}
	b.tokens = math.Min(burst, b.tokens+now.Sub(b.at).Seconds()*rate)
	b.at = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	wait := time.Duration((1 - b.tokens) / rate * float64(time.Second))
	return false, time.Duration(math.Ceil(wait.Seconds())) * time.Second
}
