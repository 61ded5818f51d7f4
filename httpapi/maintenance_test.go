package httpapi

import (
	"fmt"
	"testing"
	"time"

	"github.com/vibemon/vibemon"
)

func TestMaintenanceWindows(t *testing.T) {
	e := newTestEnv(t)
	a := e.newTenant(t, "acme")
	path := fmt.Sprintf("/api/v1/assets/%d/maintenance", a.asset.ID)
	body := map[string]any{"from": testNow.Format(time.RFC3339), "to": testNow.Add(4 * time.Hour).Format(time.RFC3339), "reason": "bearing swap"}

	// Viewers read; engineers and up create and delete.
	e.do(t, request{method: "POST", path: path, token: a.token(vibemon.RoleViewer), body: body}).wantError(t, vibemon.EFORBIDDEN)
	var w vibemon.MaintenanceWindow
	e.do(t, request{method: "POST", path: path, token: a.token(vibemon.RoleEngineer), body: body}).wantStatus(t, 201).decode(t, &w)
	if w.ID == 0 || w.AssetID != a.asset.ID || !w.From.Equal(testNow) || !w.To.Equal(testNow.Add(4*time.Hour)) ||
		w.Reason != "bearing swap" || w.CreatedBy != a.users[vibemon.RoleEngineer].ID {
		t.Errorf("created window = %+v", w)
	}
	var got items[vibemon.MaintenanceWindow]
	e.do(t, request{method: "GET", path: path, token: a.token(vibemon.RoleViewer)}).wantStatus(t, 200).decode(t, &got)
	if len(got.Items) != 1 || got.Items[0].ID != w.ID {
		t.Errorf("GET maintenance = %+v, want the one window", got.Items)
	}

	for name, bad := range map[string]any{
		"to before from": map[string]any{"from": testNow.Format(time.RFC3339), "to": testNow.Add(-time.Hour).Format(time.RFC3339)},
		"no to":          map[string]any{"from": testNow.Format(time.RFC3339)},
		"not a time":     map[string]any{"from": "tomorrow", "to": testNow.Format(time.RFC3339)},
		"unknown field":  map[string]any{"from": testNow.Format(time.RFC3339), "to": testNow.Add(time.Hour).Format(time.RFC3339), "until": 1},
	} {
		t.Run(name, func(t *testing.T) {
			e.do(t, request{method: "POST", path: path, token: a.token(vibemon.RoleEngineer), body: bad}).wantError(t, vibemon.EINVALID)
		})
	}

	e.do(t, request{method: "POST", path: "/api/v1/assets/999999/maintenance", token: a.token(vibemon.RoleEngineer), body: body}).wantError(t, vibemon.ENOTFOUND)
	e.do(t, request{method: "DELETE", path: fmt.Sprintf("%s/%d", path, w.ID), token: a.token(vibemon.RoleViewer)}).wantError(t, vibemon.EFORBIDDEN)
	e.do(t, request{method: "DELETE", path: fmt.Sprintf("%s/%d", path, w.ID), token: a.token(vibemon.RoleEngineer)}).wantStatus(t, 204)
	e.do(t, request{method: "DELETE", path: fmt.Sprintf("%s/%d", path, w.ID), token: a.token(vibemon.RoleEngineer)}).wantError(t, vibemon.ENOTFOUND)
	e.do(t, request{method: "DELETE", path: path + "/x", token: a.token(vibemon.RoleEngineer)}).wantError(t, vibemon.EINVALID)
}
