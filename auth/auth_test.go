package auth_test

import (
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/vibemon/vibemon"
	"github.com/vibemon/vibemon/auth"
)

func TestPasswordHash(t *testing.T) {
	h, err := auth.TestParams.Hash("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if want := "$argon2id$v=19$m=64,t=1,p=1$"; !strings.HasPrefix(h, want) {
		t.Fatalf("hash = %q, want prefix %q", h, want)
	}
	h2, _ := auth.TestParams.Hash("correct horse")
	if h == h2 {
		t.Fatalf("two hashes of one password are equal; the salt is not random")
	}
	tests := []struct {
		name, password string
		want           bool
	}{
		{"right", "correct horse", true},
		{"wrong", "correct horsf", false},
		{"empty", "", false},
		{"prefix", "correct", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := auth.CheckPassword(h, tt.password)
			if err != nil || got != tt.want {
				t.Fatalf("CheckPassword = %v, %v; want %v, nil", got, err, tt.want)
			}
		})
	}
}

func TestDefaultParamsAreUsed(t *testing.T) {
	h, err := auth.Hash("pw")
	if err != nil {
		t.Fatal(err)
	}
	if want := "$argon2id$v=19$m=19456,t=2,p=1$"; !strings.HasPrefix(h, want) {
		t.Fatalf("hash = %q, want prefix %q", h, want)
	}
	if ok, err := auth.CheckPassword(h, "pw"); !ok || err != nil {
		t.Fatalf("CheckPassword = %v, %v", ok, err)
	}
}

func TestCheckPasswordBadHash(t *testing.T) {
	for _, h := range []string{"", "plain", "$argon2i$v=19$m=64,t=1,p=1$c2FsdA$a2V5", "$argon2id$v=18$m=64,t=1,p=1$c2FsdA$a2V5",
		"$argon2id$v=19$m=0,t=1,p=1$c2FsdA$a2V5", "$argon2id$v=19$m=64,t=1,p=1$!!$a2V5", "$argon2id$v=19$m=64,t=1,p=1$c2FsdA$"} {
		if ok, err := auth.CheckPassword(h, "pw"); ok || err == nil {
			t.Errorf("CheckPassword(%q) = %v, %v; want false, error", h, ok, err)
		}
	}
}

var user = &vibemon.User{ID: 7, OrgID: 3, Role: vibemon.RoleEngineer}

func TestIssueVerify(t *testing.T) {
	now := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	iss := auth.NewIssuer([]byte("0123456789abcdef0123456789abcdef"), clock, 0, 0)
	tok, sess, err := iss.Issue(user)
	if err != nil {
		t.Fatal(err)
	}
	if tok.TokenType != "Bearer" || tok.ExpiresIn != 900 {
		t.Errorf("tokens = %+v, want Bearer, 900 s", tok)
	}
	c, err := iss.Verify(tok.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if c.UserID != 7 || c.OrgID != 3 || c.Role != vibemon.RoleEngineer || c.ID == "" || !c.ExpiresAt.Equal(now.Add(15*time.Minute)) {
		t.Errorf("claims = %+v", c)
	}
	if got, want := sess.TokenHash, auth.HashRefreshToken(tok.RefreshToken); got != want || len(got) != 64 {
		t.Errorf("session hash = %q, want %q", got, want)
	}
	if strings.Contains(sess.TokenHash, tok.RefreshToken) || len(tok.RefreshToken) != 43 {
		t.Errorf("refresh token %q: want 32 random bytes base64url (43 chars)", tok.RefreshToken)
	}
	if !sess.ExpiresAt.Equal(now.Add(30*24*time.Hour)) || sess.UserID != 7 || sess.OrgID != 3 || sess.FamilyID == "" {
		t.Errorf("session = %+v", sess)
	}
	tok2, sess2, _ := iss.IssueInFamily(user, sess.FamilyID)
	if sess2.FamilyID != sess.FamilyID || tok2.RefreshToken == tok.RefreshToken {
		t.Errorf("rotation: family %q -> %q, refresh token reused: %v", sess.FamilyID, sess2.FamilyID, tok2.RefreshToken == tok.RefreshToken)
	}
	_, sess3, _ := iss.Issue(user)
	if sess3.FamilyID == sess.FamilyID {
		t.Errorf("Issue reused family %q", sess.FamilyID)
	}
}

func TestVerifyRejects(t *testing.T) {
	now := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	secret := []byte("0123456789abcdef0123456789abcdef")
	iss := auth.NewIssuer(secret, func() time.Time { return now }, time.Minute, 0)
	good, _, _ := iss.Issue(user)

	later := auth.NewIssuer(secret, func() time.Time { return now.Add(2 * time.Minute) }, 0, 0)
	other := auth.NewIssuer([]byte("another secret of thirty-two b.."), func() time.Time { return now }, 0, 0)

	sign := func(m jwt.SigningMethod, key any, claims jwt.MapClaims) string {
		s, err := jwt.NewWithClaims(m, claims).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	valid := jwt.MapClaims{"iss": "vibemon", "sub": "7", "org": 3, "role": "owner", "iat": now.Unix(), "exp": now.Add(time.Minute).Unix()}
	with := func(k string, v any) jwt.MapClaims {
		c := jwt.MapClaims{}
		for kk, vv := range valid {
			c[kk] = vv
		}
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	none := sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, valid)
	tests := []struct {
		name  string
		iss   *auth.Issuer
		token string
	}{
		{"expired", later, good.AccessToken},
		{"other secret", other, good.AccessToken},
		{"tampered", iss, good.AccessToken[:len(good.AccessToken)-2] + "xx"},
		{"alg none", iss, none},
		{"HS512", iss, sign(jwt.SigningMethodHS512, secret, valid)},
		{"no exp", iss, sign(jwt.SigningMethodHS256, secret, with("exp", nil))},
		{"bad role", iss, sign(jwt.SigningMethodHS256, secret, with("role", "god"))},
		{"no org", iss, sign(jwt.SigningMethodHS256, secret, with("org", nil))},
		{"bad sub", iss, sign(jwt.SigningMethodHS256, secret, with("sub", "x"))},
		{"other issuer", iss, sign(jwt.SigningMethodHS256, secret, with("iss", "evil"))},
		{"issued in the future", iss, sign(jwt.SigningMethodHS256, secret, with("iat", now.Add(time.Hour).Unix()))},
		{"empty", iss, ""},
		{"garbage", iss, "a.b.c"},
	}
	if _, err := iss.Verify(sign(jwt.SigningMethodHS256, secret, valid)); err != nil {
		t.Fatalf("the valid hand-made token is rejected: %v", err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.iss.Verify(tt.token)
			if got := vibemon.ErrorCode(err); got != vibemon.EUNAUTHORIZED {
				t.Fatalf("Verify: code %q (%v), want %q", got, err, vibemon.EUNAUTHORIZED)
			}
		})
	}
}
