package redis_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"os"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/vibemon/vibemon/redis"
)

func TestMain(m *testing.M) {
	// go-redis prints dial failures to stderr; the fault tests cause many.
	redis.RouteLogs(slog.New(slog.DiscardHandler))
	os.Exit(m.Run())
}

// redisURL returns the test Redis from VIBEMON_TEST_REDIS_URL, skips the
// test when it is unset, and fails it instead in strict mode (CI).
func redisURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("VIBEMON_TEST_REDIS_URL")
	if u == "" {
		msg := "VIBEMON_TEST_REDIS_URL is not set (e.g. redis://127.0.0.1:6379/0); skipping the Redis tests"
		if os.Getenv("VIBEMON_TEST_STRICT") == "1" {
			t.Fatal(msg + " is not allowed with VIBEMON_TEST_STRICT=1")
		}
		t.Skip(msg)
	}
	return u
}

// newClient connects to the test Redis and closes the client at cleanup.
func newClient(t testing.TB) *goredis.Client {
	t.Helper()
	c, err := redis.Connect(context.Background(), redisURL(t))
	if err != nil {
		t.Fatalf("Connect(VIBEMON_TEST_REDIS_URL): %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// newNamedClient is newClient with every connection named name, so that a
// test can find its own connections in CLIENT LIST.
func newNamedClient(t testing.TB, name string) *goredis.Client {
	t.Helper()
	opts, err := goredis.ParseURL(redisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	opts.ClientName = name
	opts.DialTimeout, opts.ReadTimeout, opts.WriteTimeout = time.Second, time.Second, time.Second
	opts.MaxRetries = 1
	c := goredis.NewClient(opts)
	t.Cleanup(func() { c.Close() })
	return c
}

// testPrefix returns a key and channel prefix of the test's own and deletes
// its keys at cleanup, so tests neither see nor leave each other's data.
func testPrefix(t testing.TB) string {
	t.Helper()
	p := "vibemontest:" + randomHex(t) + ":"
	c := newClient(t)
	t.Cleanup(func() {
		ctx := context.Background()
		iter := c.Scan(ctx, 0, p+"*", 100).Iterator()
		for iter.Next(ctx) {
			c.Del(ctx, iter.Val())
		}
	})
	return p
}

func randomHex(t testing.TB) string {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b[:])
}
