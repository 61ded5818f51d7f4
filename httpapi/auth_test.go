package httpapi

import (
	"net/http"
	"testing"

	"github.com/vibemon/vibemon"
)

func login(t *testing.T, e *testEnv, email, password string) tokensResponse {
	t.Helper()
	var tr tokensResponse
	e.do(t, request{method: "POST", path: "/api/v1/auth/login", body: map[string]string{"email": email, "password": password}}).
		wantStatus(t, http.StatusOK).decode(t, &tr)
	return tr
}

func TestLoginRefreshLogout(t *testing.T) {
	e := newTestEnv(t)
	a := e.newTenant(t, "acme")

	tr := login(t, e, "ENGINEER@acme.test ", testPassword)
	if tr.TokenType != "Bearer" || tr.ExpiresIn != 900 || tr.AccessToken == "" || tr.RefreshToken == "" {
		t.Fatalf("login answer = %+v", tr)
	}
	if tr.User == nil || tr.User.ID != a.users[vibemon.RoleEngineer].ID || tr.User.Role != vibemon.RoleEngineer {
		t.Fatalf("login user = %+v, want the engineer", tr.User)
	}
	var me vibemon.User
	e.do(t, request{method: "GET", path: "/api/v1/me", token: tr.AccessToken}).wantStatus(t, 200).decode(t, &me)
	if me.Email != "engineer@acme.test" {
		t.Errorf("me = %+v", me)
	}

	// Refresh rotates: the new pair works, the old refresh token is spent.
	var tr2 tokensResponse
	e.do(t, request{method: "POST", path: "/api/v1/auth/refresh", body: map[string]string{"refresh_token": tr.RefreshToken}}).
		wantStatus(t, 200).decode(t, &tr2)
	if tr2.RefreshToken == tr.RefreshToken || tr2.User.ID != me.ID {
		t.Fatalf("refresh did not rotate: %+v", tr2)
	}
	var tr3 tokensResponse
	e.do(t, request{method: "POST", path: "/api/v1/auth/refresh", body: map[string]string{"refresh_token": tr2.RefreshToken}}).
		wantStatus(t, 200).decode(t, &tr3)

	// Reusing a spent token is theft: 401, and the whole family dies,
	// including the newest token.
	e.do(t, request{method: "POST", path: "/api/v1/auth/refresh", body: map[string]string{"refresh_token": tr.RefreshToken}}).
		wantError(t, vibemon.EUNAUTHORIZED)
	e.do(t, request{method: "POST", path: "/api/v1/auth/refresh", body: map[string]string{"refresh_token": tr3.RefreshToken}}).
		wantError(t, vibemon.EUNAUTHORIZED)

	// Logout revokes the family of a fresh login; other logins live on.
	l1 := login(t, e, "engineer@acme.test", testPassword)
	l2 := login(t, e, "engineer@acme.test", testPassword)
	e.do(t, request{method: "POST", path: "/api/v1/auth/logout", token: l1.AccessToken, body: map[string]string{"refresh_token": l1.RefreshToken}}).
		wantStatus(t, http.StatusNoContent)
	e.do(t, request{method: "POST", path: "/api/v1/auth/refresh", body: map[string]string{"refresh_token": l1.RefreshToken}}).
		wantError(t, vibemon.EUNAUTHORIZED)
	e.do(t, request{method: "POST", path: "/api/v1/auth/refresh", body: map[string]string{"refresh_token": l2.RefreshToken}}).
		wantStatus(t, 200)
	// Logging out twice is fine.
	e.do(t, request{method: "POST", path: "/api/v1/auth/logout", token: l1.AccessToken, body: map[string]string{"refresh_token": l1.RefreshToken}}).
		wantStatus(t, http.StatusNoContent)
}

func TestLoginFailures(t *testing.T) {
	e := newTestEnv(t)
	e.newTenant(t, "acme")
	tests := []struct {
		name string
		body any
		code string
	}{
		{"wrong password", map[string]string{"email": "viewer@acme.test", "password": "nope nope"}, vibemon.EUNAUTHORIZED},
		{"unknown e-mail", map[string]string{"email": "ghost@acme.test", "password": testPassword}, vibemon.EUNAUTHORIZED},
		{"missing password", map[string]string{"email": "viewer@acme.test"}, vibemon.EINVALID},
		{"unknown field", map[string]string{"email": "viewer@acme.test", "password": testPassword, "otp": "1"}, vibemon.EINVALID},
		{"not JSON", "email=viewer", vibemon.EINVALID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.do(t, request{method: "POST", path: "/api/v1/auth/login", body: tt.body}).wantError(t, tt.code)
		})
	}
}

func TestLoginRateLimit(t *testing.T) {
	e := newTestEnv(t)
	e.newTenant(t, "acme")
	bad := map[string]string{"email": "viewer@acme.test", "password": "wrong password"}
	for i := 0; i < 10; i++ {
		e.do(t, request{method: "POST", path: "/api/v1/auth/login", body: bad}).wantError(t, vibemon.EUNAUTHORIZED)
	}
	res := e.do(t, request{method: "POST", path: "/api/v1/auth/login", body: map[string]string{"email": "viewer@acme.test", "password": testPassword}})
	res.wantError(t, vibemon.ERATELIMIT)
	if res.header.Get("Retry-After") == "" {
		t.Errorf("429 without Retry-After")
	}
	// Another account from the same address is not locked out.
	login(t, e, "admin@acme.test", testPassword)
}

func TestBearerToken(t *testing.T) {
	e := newTestEnv(t)
	a := e.newTenant(t, "acme")
	tests := []struct {
		name   string
		header string
	}{
		{"missing", ""},
		{"not bearer", "Basic dXNlcjpwYXNz"},
		{"garbage", "Bearer not.a.jwt"},
		{"refresh token as access token", "Bearer " + login(t, e, "viewer@acme.test", testPassword).RefreshToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := map[string]string{}
			if tt.header != "" {
				h["Authorization"] = tt.header
			}
			res := e.do(t, request{method: "GET", path: "/api/v1/assets", header: h})
			res.wantError(t, vibemon.EUNAUTHORIZED)
			if res.header.Get("WWW-Authenticate") == "" {
				t.Errorf("401 without WWW-Authenticate")
			}
		})
	}
	e.do(t, request{method: "GET", path: "/api/v1/assets", header: map[string]string{"Authorization": "bearer " + a.token(vibemon.RoleViewer)}}).
		wantStatus(t, 200)
}

func TestRoles(t *testing.T) {
	e := newTestEnv(t)
	a := e.newTenant(t, "acme")
	asset := map[string]any{"name": "fan", "iso_group": 2, "foundation": "flexible"}
	newUser := func(email string, role vibemon.Role) map[string]any {
		return map[string]any{"email": email, "name": "N", "role": role, "password": "long enough pw"}
	}
	tests := []struct {
		name string
		role vibemon.Role
		req  request
		want int
	}{
		{"viewer reads assets", vibemon.RoleViewer, request{method: "GET", path: "/api/v1/assets"}, 200},
		{"viewer cannot POST assets", vibemon.RoleViewer, request{method: "POST", path: "/api/v1/assets", body: asset}, 403},
		{"viewer cannot post telemetry", vibemon.RoleViewer, request{method: "POST", path: "/api/v1/telemetry", body: map[string]any{"readings": []any{reading(a.device.ID, 9)}}}, 403},
		{"viewer cannot ack", vibemon.RoleViewer, request{method: "POST", path: "/api/v1/alerts/%alert/ack"}, 403},
		{"engineer POSTs assets", vibemon.RoleEngineer, request{method: "POST", path: "/api/v1/assets", body: asset}, 201},
		{"engineer cannot create users", vibemon.RoleEngineer, request{method: "POST", path: "/api/v1/users", body: newUser("x@acme.test", vibemon.RoleViewer)}, 403},
		{"engineer cannot delete users", vibemon.RoleEngineer, request{method: "DELETE", path: "/api/v1/users/%viewer"}, 403},
		{"engineer cannot rename the org", vibemon.RoleEngineer, request{method: "PATCH", path: "/api/v1/orgs/current", body: map[string]string{"name": "x"}}, 403},
		{"admin creates an engineer", vibemon.RoleAdmin, request{method: "POST", path: "/api/v1/users", body: newUser("e2@acme.test", vibemon.RoleEngineer)}, 201},
		{"admin creates an admin", vibemon.RoleAdmin, request{method: "POST", path: "/api/v1/users", body: newUser("a2@acme.test", vibemon.RoleAdmin)}, 201},
		{"admin cannot create an owner", vibemon.RoleAdmin, request{method: "POST", path: "/api/v1/users", body: newUser("o2@acme.test", vibemon.RoleOwner)}, 403},
		{"admin cannot promote to owner", vibemon.RoleAdmin, request{method: "PATCH", path: "/api/v1/users/%viewer", body: map[string]string{"role": "owner"}}, 403},
		{"admin cannot change the owner", vibemon.RoleAdmin, request{method: "PATCH", path: "/api/v1/users/%owner", body: map[string]string{"name": "demoted"}}, 403},
		{"admin cannot delete the owner", vibemon.RoleAdmin, request{method: "DELETE", path: "/api/v1/users/%owner"}, 403},
		{"admin cannot rename the org", vibemon.RoleAdmin, request{method: "PATCH", path: "/api/v1/orgs/current", body: map[string]string{"name": "x"}}, 403},
		{"admin cannot delete themself", vibemon.RoleAdmin, request{method: "DELETE", path: "/api/v1/users/%admin"}, 409},
		{"owner renames the org", vibemon.RoleOwner, request{method: "PATCH", path: "/api/v1/orgs/current", body: map[string]string{"name": "Acme Ltd"}}, 200},
		{"owner creates an owner", vibemon.RoleOwner, request{method: "POST", path: "/api/v1/users", body: newUser("o3@acme.test", vibemon.RoleOwner)}, 201},
		{"e-mail taken", vibemon.RoleOwner, request{method: "POST", path: "/api/v1/users", body: newUser("viewer@acme.test", vibemon.RoleViewer)}, 409},
		{"admin demotes the engineer", vibemon.RoleAdmin, request{method: "PATCH", path: "/api/v1/users/%engineer", body: map[string]string{"role": "viewer"}}, 200},
		{"engineer cannot list API keys", vibemon.RoleEngineer, request{method: "GET", path: "/api/v1/api-keys"}, 403},
		{"engineer cannot create API keys", vibemon.RoleEngineer, request{method: "POST", path: "/api/v1/api-keys", body: map[string]string{"name": "gw"}}, 403},
		{"admin creates an engineer API key", vibemon.RoleAdmin, request{method: "POST", path: "/api/v1/api-keys", body: map[string]string{"name": "gw"}}, 201},
		{"admin creates an admin API key", vibemon.RoleAdmin, request{method: "POST", path: "/api/v1/api-keys", body: map[string]string{"name": "gw", "role": "admin"}}, 201},
		{"admin cannot create an owner API key", vibemon.RoleAdmin, request{method: "POST", path: "/api/v1/api-keys", body: map[string]string{"name": "gw", "role": "owner"}}, 403},
		{"admin lists API keys", vibemon.RoleAdmin, request{method: "GET", path: "/api/v1/api-keys"}, 200},
		{"viewer reads completeness", vibemon.RoleViewer, request{method: "GET", path: "/api/v1/devices/%device/completeness"}, 200},
	}
	ids := map[string]int64{
		"%device": a.device.ID, "%alert": a.alert.ID, "%viewer": a.users[vibemon.RoleViewer].ID, "%owner": a.users[vibemon.RoleOwner].ID,
		"%admin": a.users[vibemon.RoleAdmin].ID, "%engineer": a.users[vibemon.RoleEngineer].ID,
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.req.token = a.token(tt.role)
			tt.req.path = expand(tt.req.path, ids)
			res := e.do(t, tt.req)
			if res.status != tt.want {
				t.Fatalf("%s %s as %s: status %d, want %d; body %s", tt.req.method, tt.req.path, tt.role, res.status, tt.want, res.body)
			}
			if res.status >= 400 {
				res.wantError(t, map[int]string{403: vibemon.EFORBIDDEN, 409: vibemon.ECONFLICT}[res.status])
			}
		})
	}
	// Passwords set through the API log in.
	login(t, e, "e2@acme.test", "long enough pw")
}
