package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/vibemon/vibemon"
)

// Default lifetimes of the tokens.
const (
	DefaultAccessTTL  = 15 * time.Minute
	DefaultRefreshTTL = 30 * 24 * time.Hour
)

// Claims are what an access token says about its bearer.
type Claims struct {
	UserID    int64
	OrgID     int64
	Role      vibemon.Role
	ID        string // jti, unique per token
	IssuedAt  time.Time
	ExpiresAt time.Time
}

// Tokens is what a client receives at login and refresh.
type Tokens struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	TokenType    string `json:"token_type"` // always "Bearer"
	ExpiresIn    int    `json:"expires_in"` // seconds until the access token expires
}

// Issuer signs and verifies access tokens and mints refresh tokens. It is
// safe for concurrent use.
type Issuer struct {
	secret     []byte
	now        func() time.Time
	accessTTL  time.Duration
	refreshTTL time.Duration
}

// NewIssuer returns an Issuer that signs with the HMAC key secret (use 32
// random bytes; every replica of a cluster needs the same one). now
// defaults to time.Now, accessTTL to 15 minutes and refreshTTL to 30 days.
// It panics when secret is empty, because tokens signed with no key could
// be forged by anyone.
func NewIssuer(secret []byte, now func() time.Time, accessTTL, refreshTTL time.Duration) *Issuer {
	if len(secret) == 0 {
		panic("auth.NewIssuer: empty secret")
	}
	if now == nil {
		now = time.Now
	}
	if accessTTL <= 0 {
		accessTTL = DefaultAccessTTL
	}
	if refreshTTL <= 0 {
		refreshTTL = DefaultRefreshTTL
	}
	return &Issuer{secret: append([]byte(nil), secret...), now: now, accessTTL: accessTTL, refreshTTL: refreshTTL}
}

// AccessTTL returns the lifetime of access tokens.
func (i *Issuer) AccessTTL() time.Duration { return i.accessTTL }

type jwtClaims struct {
	Org  int64  `json:"org"`
	Role string `json:"role"`
	jwt.RegisteredClaims
}

const issuerName = "vibemon"

// Issue signs an access token for u and mints a refresh token that starts
// a new family. The caller stores the returned session (CreateSession).
func (i *Issuer) Issue(u *vibemon.User) (Tokens, *vibemon.Session, error) {
	return i.IssueInFamily(u, "")
}

// IssueInFamily is Issue for a refresh: the new refresh token joins
// familyID, so that reusing a spent token revokes its successors too. An
// empty familyID starts a new family.
func (i *Issuer) IssueInFamily(u *vibemon.User, familyID string) (Tokens, *vibemon.Session, error) {
	now := i.now()
	access, err := i.sign(u, now)
	if err != nil {
		return Tokens{}, nil, err
	}
	if familyID == "" {
		familyID = randomString(16)
	}
	refresh := randomString(32)
	s := &vibemon.Session{
		TokenHash: HashRefreshToken(refresh),
		FamilyID:  familyID,
		UserID:    u.ID,
		OrgID:     u.OrgID,
		ExpiresAt: now.Add(i.refreshTTL),
		CreatedAt: now,
	}
	t := Tokens{AccessToken: access, RefreshToken: refresh, TokenType: "Bearer", ExpiresIn: int(i.accessTTL / time.Second)}
	return t, s, nil
}

func (i *Issuer) sign(u *vibemon.User, now time.Time) (string, error) {
	c := jwtClaims{
		Org:  u.OrgID,
		Role: string(u.Role),
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    issuerName,
			Subject:   strconv.FormatInt(u.ID, 10),
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(i.accessTTL)),
			ID:        randomString(12),
		},
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(i.secret)
	if err != nil {
		return "", fmt.Errorf("sign access token: %w", err)
	}
	return s, nil
}

// Verify checks an access token's signature (HS256 only), issuer and
// expiry and returns its claims. Any failure is a *vibemon.Error with code
// EUNAUTHORIZED.
func (i *Issuer) Verify(token string) (Claims, error) {
	var c jwtClaims
	_, err := jwt.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return i.secret, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithTimeFunc(i.now),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithIssuer(issuerName),
		jwt.WithLeeway(30*time.Second), // clock skew between replicas
	)
	if errors.Is(err, jwt.ErrTokenExpired) {
		return Claims{}, vibemon.Errorf(vibemon.EUNAUTHORIZED, "The access token has expired; refresh it.")
	} else if err != nil {
		return Claims{}, vibemon.Errorf(vibemon.EUNAUTHORIZED, "The access token is invalid.")
	}
	uid, err := strconv.ParseInt(c.Subject, 10, 64)
	role := vibemon.Role(c.Role)
	if err != nil || uid <= 0 || c.Org <= 0 || !role.Valid() || c.IssuedAt == nil {
		return Claims{}, vibemon.Errorf(vibemon.EUNAUTHORIZED, "The access token is invalid.")
	}
	return Claims{
		UserID:    uid,
		OrgID:     c.Org,
		Role:      role,
		ID:        c.ID,
		IssuedAt:  c.IssuedAt.Time,
		ExpiresAt: c.ExpiresAt.Time,
	}, nil
}

// HashRefreshToken returns the SHA-256 of a refresh token in hex, the form
// in which sessions are stored and looked up.
func HashRefreshToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// randomString returns n random bytes, base64url-encoded without padding.
func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails since Go 1.24; it crashes the program instead
	return base64.RawURLEncoding.EncodeToString(b)
}
