package vibemon

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"slices"
	"strings"
	"time"
)

// APIKeyPrefix starts every API key, so that the auth middleware can tell
// a key from a JWT access token and secret scanners can find leaked keys.
const APIKeyPrefix = "vmk_"

// APIKey is a long-lived bearer credential of an organization, for
// machines such as gateways. The key itself is shown once at creation; the
// store keeps only its SHA-256 (a 32-byte random key needs no slow hash).
type APIKey struct {
	ID         int64      `json:"id"`
	OrgID      int64      `json:"org_id"`
	Name       string     `json:"name"`
	Role       Role       `json:"role"`
	Prefix     string     `json:"prefix"` // the key's first 8 characters, for display
	Hash       string     `json:"-"`      // SHA-256 of the key, hex
	CreatedAt  time.Time  `json:"created_at"`
	CreatedBy  int64      `json:"created_by"`
	LastUsedAt *time.Time `json:"last_used_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
}

// NewAPIKey returns a new random key ("vmk_" + 32 random bytes,
// base64url) and its hash as stored.
func NewAPIKey() (key, hash string) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("vibemon: crypto/rand: " + err.Error()) // never fails on supported platforms
	}
	key = APIKeyPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	return key, HashAPIKey(key)
}

// HashAPIKey returns the stored form of key: its SHA-256, hex.
func HashAPIKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// IsAPIKey reports whether a bearer token looks like an API key.
func IsAPIKey(token string) bool { return strings.HasPrefix(token, APIKeyPrefix) }

// APIKeyStore keeps API keys. Every method but APIKeyByHash and
// TouchAPIKey is scoped to an org.
type APIKeyStore interface {
	// CreateAPIKey inserts k and sets its ID and CreatedAt. EINVALID when
	// the name (1..200 characters), role, prefix or hash is missing or
	// malformed, or the org does not exist.
	CreateAPIKey(ctx context.Context, k *APIKey) error
	// ListAPIKeys returns the org's keys, revoked ones included, ordered by ID.
	ListAPIKeys(ctx context.Context, orgID int64) ([]*APIKey, error)
	// APIKeyByHash returns the key with the hash in any org; EUNAUTHORIZED
	// when no key has it or the key is revoked.
	APIKeyByHash(ctx context.Context, hash string) (*APIKey, error)
	// RevokeAPIKey marks the key revoked (from now on it authenticates
	// nothing); revoking twice keeps the first time. ENOTFOUND when id is
	// not a key of orgID.
	RevokeAPIKey(ctx context.Context, orgID, id int64) error
	// TouchAPIKey records that the key was used at at; unknown ids are
	// ignored.
	TouchAPIKey(ctx context.Context, id int64, at time.Time) error
}

// SeqGap is a run of sequence numbers missing between two received ones:
// FromSeq..ToSeq inclusive, Count = ToSeq - FromSeq + 1. Reason is why
// they are missing: the reason of the reported gap (ReportedGap) that
// covers the run, or GapUnexplained.
type SeqGap struct {
	FromSeq int64  `json:"from_seq"`
	ToSeq   int64  `json:"to_seq"`
	Count   int64  `json:"count"`
	Reason  string `json:"reason"`
}

// Gap reasons: why a gateway knows a device's readings will not arrive.
const (
	// GapQueueFull: the gateway's offline queue hit its bound and dropped
	// its oldest readings.
	GapQueueFull = "queue_full"
	// GapNodeRingOverflow: the node's ring overwrote summaries it had not
	// sent (it was out of reach of a gateway for too long).
	GapNodeRingOverflow = "node_ring_overflow"
	// GapRejected: the server rejected the reading as invalid.
	GapRejected = "rejected"
	// GapUnexplained marks a hole no reported gap covers. It is not a
	// reason a gateway may report.
	GapUnexplained = "unexplained"
)

// ReportedGap is a run of a device's sequence numbers (FromSeq..ToSeq
// inclusive) that a gateway says will never arrive, and why.
type ReportedGap struct {
	FromSeq int64     `json:"from_seq"`
	ToSeq   int64     `json:"to_seq"`
	Reason  string    `json:"reason"`
	At      time.Time `json:"at"` // when the gateway recorded it
}

// MaxReportedGaps is how many gaps one report may carry.
const MaxReportedGaps = 5000

// Validate checks a reported gap.
func (g *ReportedGap) Validate() error {
	switch {
	case g.FromSeq < 0 || g.ToSeq > 1<<32-1 || g.FromSeq > g.ToSeq:
		return Errorf(EINVALID, "from_seq and to_seq must be sequence numbers (0..4294967295) with from_seq <= to_seq.")
	case g.Reason != GapQueueFull && g.Reason != GapNodeRingOverflow && g.Reason != GapRejected:
		return Errorf(EINVALID, "reason must be queue_full, node_ring_overflow or rejected.")
	case g.At.IsZero():
		return Errorf(EINVALID, "at (when the gap was recorded, RFC 3339) is required.")
	}
	return nil
}

// MaxCompletenessGaps is how many gaps a Completeness lists at most.
const MaxCompletenessGaps = 100

// Completeness is what a device delivered in a time window, judged from
// the sequence numbers of its stored readings. FirstSeq and LastSeq are
// the smallest and largest seq received in the window, Received the
// readings stored. The missing seqs are the holes between FirstSeq and
// LastSeq, plus the run just before FirstSeq back to the device's previous
// reading (or, when it has none, the reported gaps that end right below
// FirstSeq: losses at the start of its life), plus the reported gaps that
// start right above LastSeq when the device has no later reading. Each is
// either explained by a gap a gateway reported (Explained, counted per
// reason in Lost) or not (Unexplained). Expected = Received + Explained +
// Unexplained (0 when nothing was received); Percent = 100 * Received /
// Expected and AccountedPercent = 100 * (Received + Explained) / Expected,
// which is 100 when every loss is known (both 0 when nothing was
// expected). Gaps lists the missing runs, each with one reason, largest
// first (at most MaxCompletenessGaps); GapCount counts them all.
type Completeness struct {
	DeviceID         int64            `json:"device_id"`
	From             time.Time        `json:"from"`
	To               time.Time        `json:"to"`
	FirstSeq         int64            `json:"first_seq"`
	LastSeq          int64            `json:"last_seq"`
	Expected         int64            `json:"expected"`
	Received         int64            `json:"received"`
	Percent          float64          `json:"percent"`
	Explained        int64            `json:"explained"`
	Unexplained      int64            `json:"unexplained"`
	AccountedPercent float64          `json:"accounted_percent"`
	Lost             map[string]int64 `json:"lost_by_reason"`
	GapCount         int64            `json:"gap_count"`
	Gaps             []SeqGap         `json:"gaps"`
}

// Finish sets Expected, Percent and AccountedPercent from Received,
// Explained and Unexplained.
func (c *Completeness) Finish() {
	if c.Gaps == nil {
		c.Gaps = []SeqGap{}
	}
	if c.Lost == nil {
		c.Lost = map[string]int64{}
	}
	if c.Received == 0 {
		c.Expected, c.Percent, c.AccountedPercent = 0, 0, 0
		return
	}
	c.Expected = c.Received + c.Explained + c.Unexplained
	c.Percent = 100 * float64(c.Received) / float64(c.Expected)
	c.AccountedPercent = 100 * float64(c.Received+c.Explained) / float64(c.Expected)
}

// GapExplainer splits the holes of a Completeness by the reported gaps
// that cover them. Make it with NewGapExplainer (c.FirstSeq and LastSeq
// set), call Lead, then Hole for each hole between FirstSeq and LastSeq in
// ascending seq order, then Trail and Done. Stores share it so both
// dialects explain alike; they load the reported gaps overlapping
// GapRange.
type GapExplainer struct {
	c    *Completeness
	gs   []ReportedGap // disjoint, ascending
	i    int
	keep int
}

// NewGapExplainer returns an explainer filling c from the reported gaps
// (any order, possibly overlapping: where two overlap the one starting
// first wins).
func NewGapExplainer(c *Completeness, reported []ReportedGap) *GapExplainer {
	gs := slices.Clone(reported)
	slices.SortStableFunc(gs, func(a, b ReportedGap) int { return cmp.Compare(a.FromSeq, b.FromSeq) })
	out := gs[:0]
	for _, g := range gs {
		if n := len(out); n > 0 && g.FromSeq <= out[n-1].ToSeq {
			if g.ToSeq <= out[n-1].ToSeq {
				continue
			}
			g.FromSeq = out[n-1].ToSeq + 1
		}
		out = append(out, g)
	}
	if c.Lost == nil {
		c.Lost = map[string]int64{}
	}
	return &GapExplainer{c: c, gs: out, keep: MaxCompletenessGaps}
}

// GapRange returns the seqs whose reported gaps a store must pass to
// NewGapExplainer: from the device's previous reading + 1 (0 when it has
// none) to LastSeq, or to the largest seq when it has no later reading.
func GapRange(c *Completeness, prev int64, hasPrev, hasLater bool) (lo, hi int64) {
	lo, hi = 0, 1<<32-1
	if hasPrev {
		lo = prev + 1
	}
	if hasLater {
		hi = c.LastSeq
	}
	return lo, hi
}

// Lead records the run before FirstSeq: back to prev (the device's
// previous reading's seq) when hasPrev, else as far down as reported gaps
// reach without a break.
func (e *GapExplainer) Lead(prev int64, hasPrev bool) {
	first := e.c.FirstSeq
	if e.c.Received == 0 {
		return
	}
	if hasPrev {
		if prev+1 < first {
			e.Hole(prev+1, first-1)
		}
		return
	}
	low := first
	for k := len(e.gs) - 1; k >= 0; k-- {
		if g := e.gs[k]; g.FromSeq < low && g.ToSeq >= low-1 {
			low = g.FromSeq
		} else if g.ToSeq < low-1 {
			break
		}
	}
	if low < first {
		e.Hole(low, first-1)
	}
}

// Trail records the reported gaps right above LastSeq, without a break,
// when the device has no later reading (a later reading's window sees the
// run as its Lead).
func (e *GapExplainer) Trail(hasLater bool) {
	if hasLater || e.c.Received == 0 {
		return
	}
	high := e.c.LastSeq
	for _, g := range e.gs {
		if g.FromSeq <= high+1 && g.ToSeq > high {
			high = g.ToSeq
		}
	}
	if high > e.c.LastSeq {
		e.Hole(e.c.LastSeq+1, high)
	}
}

// Hole records the missing run from..to (inclusive); holes must come in
// ascending order.
func (e *GapExplainer) Hole(from, to int64) {
	for from <= to {
		for e.i < len(e.gs) && e.gs[e.i].ToSeq < from {
			e.i++
		}
		if e.i == len(e.gs) || e.gs[e.i].FromSeq > to {
			e.add(from, to, GapUnexplained)
			return
		}
		g := e.gs[e.i]
		if g.FromSeq > from {
			e.add(from, g.FromSeq-1, GapUnexplained)
			from = g.FromSeq
		}
		end := min(to, g.ToSeq)
		e.add(from, end, g.Reason)
		from = end + 1
	}
}

func (e *GapExplainer) add(from, to int64, reason string) {
	c := e.c
	n := to - from + 1
	// Adjacent runs with the same reason (two reports side by side) are one.
	if k := len(c.Gaps); k > 0 && c.Gaps[k-1].ToSeq == from-1 && c.Gaps[k-1].Reason == reason {
		c.Gaps[k-1].ToSeq, c.Gaps[k-1].Count = to, c.Gaps[k-1].Count+n
	} else {
		c.Gaps = append(c.Gaps, SeqGap{FromSeq: from, ToSeq: to, Count: n, Reason: reason})
		c.GapCount++
	}
	if reason == GapUnexplained {
		c.Unexplained += n
	} else {
		c.Explained += n
		c.Lost[reason] += n
	}
	if len(c.Gaps) > 8*e.keep {
		e.trim(2 * e.keep) // the last run may still grow
	}
}

func (e *GapExplainer) trim(n int) {
	last := e.c.Gaps[len(e.c.Gaps)-1]
	rest := e.c.Gaps[:len(e.c.Gaps)-1]
	sortGaps(rest)
	e.c.Gaps = append(rest[:min(n, len(rest))], last)
}

func sortGaps(gs []SeqGap) {
	slices.SortFunc(gs, func(a, b SeqGap) int {
		if c := cmp.Compare(b.Count, a.Count); c != 0 {
			return c
		}
		return cmp.Compare(a.FromSeq, b.FromSeq)
	})
}

// Done orders the gaps largest first, keeps MaxCompletenessGaps and
// finishes c.
func (e *GapExplainer) Done() {
	sortGaps(e.c.Gaps)
	e.c.Gaps = e.c.Gaps[:min(len(e.c.Gaps), e.keep)]
	e.c.Finish()
}

// CompletenessStore derives per-device delivery completeness from the
// stored readings and the gaps gateways reported.
type CompletenessStore interface {
	// Completeness reports the device's readings with from <= ts < to.
	// ENOTFOUND when the device is not the org's; EINVALID unless from is
	// before to.
	Completeness(ctx context.Context, orgID, deviceID int64, from, to time.Time) (*Completeness, error)
	// ReportGaps stores gaps a gateway recorded for the device (each
	// validated; EINVALID names the first bad one). Idempotent: a gap
	// already stored (same range and reason) is not stored again; it
	// returns how many were new. ENOTFOUND when the device is not the
	// org's.
	ReportGaps(ctx context.Context, orgID, deviceID int64, gaps []ReportedGap) (stored int, err error)
}

// Validate trims the name and checks what CreateAPIKey requires.
func (k *APIKey) Validate() error {
	k.Name = strings.TrimSpace(k.Name)
	switch {
	case k.Name == "" || len(k.Name) > 200:
		return Errorf(EINVALID, "name is required (at most 200 characters).")
	case !k.Role.Valid():
		return Errorf(EINVALID, "role must be owner, admin, engineer or viewer.")
	case len(k.Hash) != 64:
		return Errorf(EINVALID, "hash must be a SHA-256 in hex.")
	case k.Prefix == "" || len(k.Prefix) > 16:
		return Errorf(EINVALID, "prefix is required (at most 16 characters).")
	}
	return nil
}
