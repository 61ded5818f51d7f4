package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vibemon/vibemon"
	"github.com/vibemon/vibemon/auth"
	"github.com/vibemon/vibemon/postgres"
	"github.com/vibemon/vibemon/sqlite"
)

// userCmd runs `vibemon user ARGS` with env and returns its output.
func userCmd(t *testing.T, env map[string]string, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := run(context.Background(), append([]string{"user"}, args...), func(k string) string { return env[k] }, &out, &out)
	return out.String(), err
}

// checkUserCommand creates a user, lists it, changes its password (the
// new one signs in, the old one does not), and refuses bad input with a
// message naming it, without touching the store.
func checkUserCommand(t *testing.T, env map[string]string, store func() vibemon.Store) {
	t.Helper()
	out, err := userCmd(t, env, "create", "--email", "eve@example.com", "--name", "Eve", "--role", "engineer")
	if err != nil || !strings.Contains(out, "created user") || !strings.Contains(out, "password: ") {
		t.Fatalf("user create: %v\n%s", err, out)
	}
	generated := strings.Fields(out[strings.Index(out, "password: ")+len("password: "):])[0]
	if out, err := userCmd(t, env, "list"); err != nil || !strings.Contains(out, "eve@example.com") || !strings.Contains(out, "engineer") {
		t.Fatalf("user list: %v\n%s", err, out)
	}
	if out, err := userCmd(t, env, "set-password", "--email", "eve@example.com", "--password", "a new password 1"); err != nil || !strings.Contains(out, "changed") {
		t.Fatalf("user set-password: %v\n%s", err, out)
	}
	s := store()
	defer s.Close()
	u, err := s.FindUserByEmail(context.Background(), "eve@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := auth.CheckPassword(u.PasswordHash, "a new password 1"); !ok {
		t.Error("the password set by set-password does not sign in")
	}
	if ok, _ := auth.CheckPassword(u.PasswordHash, generated); ok {
		t.Error("the generated password still signs in after set-password")
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"frobnicate"}, `unknown user command "frobnicate"`},
		{[]string{"create", "--role", "engineer"}, "--email is required"},
		{[]string{"create", "--email", "x@example.com", "--role", "king"}, `--role "king"`},
		{[]string{"create", "--email", "x@example.com", "--role", "viewer", "--password", "short"}, "at least 8 characters"},
		{[]string{"create", "--email", "eve@example.com", "--role", "viewer"}, "create user"},
		{[]string{"create", "--email", "y@example.com", "--role", "viewer", "--org", "999"}, "--org 999"},
		{[]string{"set-password", "--email", "nobody@example.com"}, "nobody@example.com"},
	} {
		if _, err := userCmd(t, env, c.args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("user %v: error %v, want one naming %s", c.args, err, c.want)
		}
	}
	users, err := s.ListUsers(context.Background(), 1)
	if err != nil || len(users) != 1 {
		t.Errorf("after the refused commands the org has %d users (%v), want eve only", len(users), err)
	}
}

func TestUserCommandOnTheEmbeddedStore(t *testing.T) {
	dir := t.TempDir()
	// No store in the data dir yet: the command says so and creates none.
	if _, err := userCmd(t, map[string]string{"VIBEMON_DATA_DIR": dir}, "list"); err == nil || !strings.Contains(err.Error(), "no VibeMon store at") || !strings.Contains(err.Error(), "VIBEMON_DATABASE_URL") {
		t.Fatalf("user list without a store: %v, want a message saying where it looked and what to give", err)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "*.db")); len(m) != 0 {
		t.Fatalf("the refused command created %v", m)
	}
	path := filepath.Join(dir, "vibemon.db")
	s, err := sqlite.Open(path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateOrg(context.Background(), &vibemon.Org{Name: "acme"}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	checkUserCommand(t, map[string]string{"VIBEMON_DATA_DIR": dir}, func() vibemon.Store {
		s, err := sqlite.Open(path, sqlite.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// With VIBEMON_DATABASE_URL the command manages the cluster's users, not
// those of a local file (it used to open the data dir's SQLite store
// whatever the server used).
func TestUserCommandOnPostgreSQL(t *testing.T) {
	url := freshPostgres(t, "usr")
	ctx := context.Background()
	s, err := postgres.Open(ctx, url, postgres.Options{MaintenanceInterval: -1, MergeInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateOrg(ctx, &vibemon.Org{Name: "acme"}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	dir := t.TempDir()
	checkUserCommand(t, map[string]string{"VIBEMON_DATA_DIR": dir, "VIBEMON_DATABASE_URL": url}, func() vibemon.Store {
		s, err := postgres.Open(ctx, url, postgres.Options{MaintenanceInterval: -1, MergeInterval: -1})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
	if m, _ := filepath.Glob(filepath.Join(dir, "*.db")); len(m) != 0 {
		t.Errorf("with VIBEMON_DATABASE_URL the command made %v in the data dir", m)
	}
}
