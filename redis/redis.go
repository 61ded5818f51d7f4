package redis

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// DefaultPrefix starts every key and channel name unless a Config says
// otherwise, so that VibeMon can share a Redis database with other programs.
const DefaultPrefix = "vibemon:"

// Connect parses a redis:// (or rediss://, unix://) URL, opens a client with
// short timeouts suited to a best-effort live path, and checks that Redis
// answers within ctx. The caller closes the client.
func Connect(ctx context.Context, rawURL string) (*goredis.Client, error) {
	opts, err := goredis.ParseURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("parse redis url: %w", err)
	}
	q := queryKeys(rawURL)
	// Defaults that fail fast when Redis is gone; a URL's own
	// ?dial_timeout=... and friends win.
	if !q["dial_timeout"] {
		opts.DialTimeout = 2 * time.Second
	}
	if !q["read_timeout"] {
		opts.ReadTimeout = time.Second
	}
	if !q["write_timeout"] {
		opts.WriteTimeout = time.Second
	}
	if !q["max_retries"] {
		opts.MaxRetries = 1
	}
	// One dial try per command: a refused connection fails at once
	// instead of after five spaced tries.
	opts.DialerRetries = 1
	opts.ContextTimeoutEnabled = true
	c := goredis.NewClient(opts)
	pctx, cancel := context.WithTimeout(ctx, opts.DialTimeout+time.Second)
	defer cancel()
	if err := c.Ping(pctx).Err(); err != nil {
		c.Close()
		return nil, fmt.Errorf("ping redis at %s: %w", opts.Addr, err)
	}
	return c, nil
}

// queryKeys returns the names of the URL's query parameters.
func queryKeys(rawURL string) map[string]bool {
	keys := map[string]bool{}
	_, q, ok := strings.Cut(rawURL, "?")
	if !ok {
		return keys
	}
	for _, kv := range strings.Split(q, "&") {
		k, _, _ := strings.Cut(kv, "=")
		keys[k] = true
	}
	return keys
}

// micros returns t as whole microseconds since the Unix epoch: exact in a
// Lua number (a double) until the year 2255, unlike nanoseconds.
func micros(t time.Time) int64 { return t.UnixMicro() }

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// MaxPrefix is the longest key prefix CheckPrefix accepts.
const MaxPrefix = 64

// CheckPrefix reports why p cannot start VibeMon's Redis keys and channel
// names: it must be 1 to MaxPrefix printable ASCII characters without
// spaces (a glob character would make the cleanup SCANs of tests and
// operators match other installations' keys). Two installations that share
// one Redis need different prefixes.
func CheckPrefix(p string) error {
	if p == "" || len(p) > MaxPrefix {
		return fmt.Errorf("%q must be 1 to %d characters, e.g. %q", p, MaxPrefix, DefaultPrefix)
	}
	for _, c := range p {
		if c <= ' ' || c > '~' || strings.ContainsRune("*?[]\\", c) {
			return fmt.Errorf("%q may hold only printable ASCII without spaces or *?[]\\ (e.g. %q)", p, "plant2:")
		}
	}
	return nil
}

func prefixOr(p string) string {
	if p == "" {
		return DefaultPrefix
	}
	return p
}

// RouteLogs sends go-redis's own log lines (dial failures and the like,
// which it otherwise prints to stderr) to log at Debug level: VibeMon logs
// the failures that matter itself. go-redis has one logger per process, so
// RouteLogs is for main to call.
func RouteLogs(log *slog.Logger) {
	goredis.SetLogger(slogPrinter{log})
}

type slogPrinter struct{ log *slog.Logger }

func (p slogPrinter) Printf(ctx context.Context, format string, v ...any) {
	p.log.DebugContext(ctx, "go-redis: "+fmt.Sprintf(format, v...))
}
