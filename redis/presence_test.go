package redis_test

import (
	"context"
	"testing"
	"time"

	"github.com/vibemon/vibemon/presencetest"
	"github.com/vibemon/vibemon/redis"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

type redisPresence struct{ *redis.Presence }

func (p redisPresence) Sweep(ctx context.Context, now time.Time) ([]presencetest.Ref, error) {
	refs, err := p.Presence.Sweep(ctx, now)
	var out []presencetest.Ref
	for _, d := range refs {
		out = append(out, presencetest.Ref{OrgID: d.OrgID, DeviceID: d.DeviceID})
	}
	return out, err
}

// TestPresence runs the presence specification against Redis: every
// replica is a redis.Presence with its own client on the test's prefix.
func TestPresence(t *testing.T) {
	presencetest.Run(t, func(t *testing.T, ttl time.Duration) func() presencetest.Presence {
		prefix := testPrefix(t)
		return func() presencetest.Presence {
			p, err := redis.NewPresence(redis.PresenceConfig{Client: newClient(t), Prefix: prefix, TTL: ttl})
			if err != nil {
				t.Fatal(err)
			}
			return redisPresence{p}
		}
	})
}
