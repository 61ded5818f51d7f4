package redis

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// WatchConfig configures a Watch. Client is required; the zero value of
// every other field means its documented default.
type WatchConfig struct {
	Client *goredis.Client
	// Prefix starts the key. Defaults to DefaultPrefix.
	Prefix string
	// TTL is how long a mark lasts; the WebSocket replicas renew theirs
	// more often than that (every TTL/3 in cmd/vibemon). Defaults to 15 s.
	TTL time.Duration
	// Now is the clock. Defaults to time.Now.
	Now func() time.Time
}

// Watch records which orgs have live telemetry clients on some replica, so
// that the replicas taking readings encode and publish live reading events
// only for those (ingest.Config.LiveWanted): encoding every reading as
// JSON was two fifths of the server's CPU per reading under bulk ingest.
// One sorted set "<prefix>watch": member an org id, score until when (Unix
// ms) a replica said one of its clients watches the org. A replica marks
// an org before it tells a new client it is ready, so a reading posted
// after that is streamed to it; marks lapse TTL after the last client left.
type Watch struct {
	client *goredis.Client
	key    string
	ttl    time.Duration
	now    func() time.Time

	// yes remembers, per org, until when (Unix ms, local clock) a "yes" of
	// Redis is taken without asking again (wantedFor): a watched org's
	// batches skip the round trip, an unwatched one's ask every time, so
	// a new client is seen by the next batch.
	mu  sync.Mutex
	yes map[int64]int64
}

// wantedFor is how long Wanted trusts a "yes" from Redis.
const wantedFor = time.Second

// NewWatch returns a Watch on cfg.Client.
func NewWatch(cfg WatchConfig) (*Watch, error) {
	if cfg.Client == nil {
		return nil, errors.New("new redis watch: WatchConfig.Client is required")
	}
	if cfg.TTL <= 0 {
		cfg.TTL = 15 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Watch{client: cfg.Client, key: prefixOr(cfg.Prefix) + "watch", ttl: cfg.TTL, now: cfg.Now, yes: map[int64]int64{}}, nil
}

// TTL returns how long a mark lasts.
func (w *Watch) TTL() time.Duration { return w.ttl }

// Mark records that the orgs are watched for the next TTL, and drops marks
// that have lapsed, in one round trip.
func (w *Watch) Mark(ctx context.Context, orgIDs ...int64) error {
	now := w.now()
	until := float64(now.Add(w.ttl).UnixMilli())
	_, err := w.client.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		if len(orgIDs) > 0 {
			zs := make([]goredis.Z, len(orgIDs))
			for i, id := range orgIDs {
				zs[i] = goredis.Z{Score: until, Member: itoa(id)}
			}
			p.ZAddGT(ctx, w.key, zs...)
		}
		p.ZRemRangeByScore(ctx, w.key, "-inf", "("+strconv.FormatInt(now.UnixMilli(), 10))
		return nil
	})
	return err
}

// Wanted reports whether a client of the org may be watching: a mark that
// has not lapsed. It asks Redis (one round trip, at most 250 ms) unless it
// heard yes for the org less than a second ago; when Redis does not answer
// it says yes, so the live view degrades as it would without the check.
func (w *Watch) Wanted(orgID int64) bool {
	now := w.now().UnixMilli()
	w.mu.Lock()
	fresh := w.yes[orgID] > now
	w.mu.Unlock()
	if fresh {
		return true
	}
	ctx, cancel := context.WithTimeout(context.Background(), 250*time.Millisecond)
	defer cancel()
	until, err := w.client.ZScore(ctx, w.key, itoa(orgID)).Result()
	if errors.Is(err, goredis.Nil) {
		return false
	}
	if err != nil {
		return true
	}
	if int64(until) <= now {
		return false
	}
	w.mu.Lock()
	if len(w.yes) > 10000 { // orgs come and go: forget them all now and then
		clear(w.yes)
	}
	w.yes[orgID] = now + wantedFor.Milliseconds()
	w.mu.Unlock()
	return true
}
