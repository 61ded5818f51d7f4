package vibemon

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
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
// FromSeq..ToSeq inclusive, Count = ToSeq - FromSeq + 1.
type SeqGap struct {
	FromSeq int64 `json:"from_seq"`
	ToSeq   int64 `json:"to_seq"`
	Count   int64 `json:"count"`
}

// MaxCompletenessGaps is how many gaps a Completeness lists at most.
const MaxCompletenessGaps = 100

// Completeness is what a device delivered in a time window, judged from
// the sequence numbers of its stored readings: Expected is
// LastSeq - FirstSeq + 1 (0 when nothing was received), Received the
// readings stored, Percent = 100 * Received / Expected (0 when nothing was
// expected). Gaps lists the largest holes first (at most
// MaxCompletenessGaps); GapCount counts them all.
type Completeness struct {
	DeviceID int64     `json:"device_id"`
	From     time.Time `json:"from"`
	To       time.Time `json:"to"`
	FirstSeq int64     `json:"first_seq"`
	LastSeq  int64     `json:"last_seq"`
	Expected int64     `json:"expected"`
	Received int64     `json:"received"`
	Percent  float64   `json:"percent"`
	GapCount int64     `json:"gap_count"`
	Gaps     []SeqGap  `json:"gaps"`
}

// Finish sets Expected and Percent from FirstSeq, LastSeq and Received.
func (c *Completeness) Finish() {
	if c.Gaps == nil {
		c.Gaps = []SeqGap{}
	}
	if c.Received == 0 {
		c.Expected, c.Percent = 0, 0
		return
	}
	c.Expected = c.LastSeq - c.FirstSeq + 1
	c.Percent = 100 * float64(c.Received) / float64(c.Expected)
}

// CompletenessStore derives per-device delivery completeness from the
// stored readings.
type CompletenessStore interface {
	// Completeness reports the device's readings with from <= ts < to.
	// ENOTFOUND when the device is not the org's; EINVALID unless from is
	// before to.
	Completeness(ctx context.Context, orgID, deviceID int64, from, to time.Time) (*Completeness, error)
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
