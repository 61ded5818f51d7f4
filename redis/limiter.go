package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// LimiterConfig configures a Limiter. Client is required; the zero value of
// every other field means its documented default (10 events per key per
// minute).
type LimiterConfig struct {
	// Client is the Redis client.
	Client *goredis.Client
	// Prefix starts every key. Defaults to DefaultPrefix.
	Prefix string
	// Name separates limiters that share a Redis and a prefix ("login",
	// "signup"). Defaults to "limit".
	Name string
	// Limit is how many events a key may have in a burst, and per Window on
	// average. Defaults to 10.
	Limit int
	// Window is the time in which a key regains Limit events. Defaults to
	// one minute.
	Window time.Duration
	// Now is the clock Allow uses. Defaults to time.Now.
	Now func() time.Time
}

// Limiter is a token-bucket rate limiter keyed by string (an e-mail address,
// a client IP), shared by every replica on one Redis: the same semantics as
// inproc.Limiter. Each key starts with Limit tokens and regains them evenly
// over Window. It is kept as GCRA: one string "<prefix><name>:<key>" holds
// the key's theoretical arrival time in microseconds and expires when the
// bucket is full again, so Redis holds only recently active keys. A Lua
// script makes each decision atomic across replicas.
type Limiter struct {
	client   *goredis.Client
	prefix   string
	limit    int
	interval float64 // microseconds per token
	now      func() time.Time
}

// NewLimiter returns a Limiter on cfg.Client.
func NewLimiter(cfg LimiterConfig) (*Limiter, error) {
	if cfg.Client == nil {
		return nil, errors.New("new redis limiter: LimiterConfig.Client is required")
	}
	if cfg.Name == "" {
		cfg.Name = "limit"
	}
	if cfg.Limit <= 0 {
		cfg.Limit = 10
	}
	if cfg.Window <= 0 {
		cfg.Window = time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Limiter{
		client:   cfg.Client,
		prefix:   prefixOr(cfg.Prefix) + cfg.Name + ":",
		limit:    cfg.Limit,
		interval: float64(cfg.Window) / float64(time.Microsecond) / float64(cfg.Limit),
		now:      cfg.Now,
	}, nil
}

// gcraScript: KEYS[1] holds the theoretical arrival time (TAT, µs). ARGV is
// now (µs), the interval per token (µs) and the limit. An event is allowed
// when the TAT is at most (limit-1) intervals ahead of now, which is the
// token bucket's "at least one token left"; allowing moves the TAT one
// interval on.
var gcraScript = goredis.NewScript(`
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or ARGV[1])
if tat < now then tat = now end
if tat - now > (limit - 1) * interval + 0.5 then
  return 0
end
tat = tat + interval
redis.call('SET', KEYS[1], string.format('%.17g', tat), 'PX', math.ceil((tat - now) / 1000))
return 1
`)

// Allow reports whether key may have one more event now, and if so takes
// one token from it. It implements httpapi.RateLimiter; an error means
// Redis did not answer, and callers let the request through.
func (l *Limiter) Allow(ctx context.Context, key string) (bool, error) {
	return l.AllowAt(ctx, key, l.now())
}

// AllowAt is Allow at the time now instead of the Limiter's clock.
func (l *Limiter) AllowAt(ctx context.Context, key string, now time.Time) (bool, error) {
	n, err := gcraScript.Run(ctx, l.client, []string{l.prefix + key},
		itoa(micros(now)), strconv.FormatFloat(l.interval, 'g', -1, 64), l.limit).Int()
	if err != nil {
		return false, fmt.Errorf("rate limit %q: %w", key, err)
	}
	return n == 1, nil
}
