package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/vibemon/vibemon"
	"github.com/vibemon/vibemon/auth"
)

const defaultAdminEmail = "admin@vibemon.local"

// loadSecret returns the token-signing key kept in the data dir, creating
// it on first start. Every replica of a cluster must share it.
func loadSecret(dataDir string) ([]byte, error) {
	path := filepath.Join(dataDir, "secret.key")
	b, err := os.ReadFile(path)
	if err == nil {
		key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
		if err != nil || len(key) < 32 {
			return nil, fmt.Errorf("%s is damaged: delete it to generate a new one (everyone will have to log in again)", path)
		}
		return key, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, []byte(base64.StdEncoding.EncodeToString(key)+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	return key, nil
}

// admin is the first administrator's login.
type admin struct {
	Email    string
	Password string // "" when the admin existed before this start
	User     *vibemon.User
}

// bootstrapAdmin creates the first org and its owner on a new install, with
// VIBEMON_ADMIN_EMAIL / VIBEMON_ADMIN_PASSWORD or a generated password that
// is printed once. On an existing install it returns the first owner.
func bootstrapAdmin(ctx context.Context, store vibemon.Store, s *settings, stdout io.Writer) (*admin, error) {
	n, err := store.CountUsers(ctx)
	if err != nil {
		return nil, fmt.Errorf("count users: %w", err)
	}
	if n > 0 {
		u, err := firstOwner(ctx, store, s)
		if err != nil {
			return nil, err
		}
		return &admin{Email: u.Email, User: u}, nil
	}
	email := s.AdminEmail
	if email == "" {
		email = defaultAdminEmail
	}
	password := s.AdminPassword
	generated := password == ""
	if generated {
		password = randomPassword()
	}
	hash, err := auth.Hash(password)
	if err != nil {
		return nil, err
	}
	org := &vibemon.Org{Name: "My plant"}
	if err := store.CreateOrg(ctx, org); err != nil {
		return nil, fmt.Errorf("create first org: %w", err)
	}
	u := &vibemon.User{OrgID: org.ID, Email: email, Name: "Administrator", Role: vibemon.RoleOwner, PasswordHash: hash}
	if err := store.CreateUser(ctx, u); err != nil {
		return nil, fmt.Errorf("create first admin: %w", err)
	}
	if generated {
		fmt.Fprintf(stdout, "Created the first admin. Log in with:\n  e-mail:   %s\n  password: %s\n(shown only this once; change it with: vibemon user set-password --email %s)\n", email, password, email)
	}
	return &admin{Email: email, Password: password, User: u}, nil
}

func firstOwner(ctx context.Context, store vibemon.Store, s *settings) (*vibemon.User, error) {
	if s.AdminEmail != "" {
		if u, err := store.FindUserByEmail(ctx, s.AdminEmail); err == nil {
			return u, nil
		}
	}
	u, err := store.FindUserByEmail(ctx, defaultAdminEmail)
	if err == nil {
		return u, nil
	}
	// Fall back to the lowest-numbered owner of org 1.
	users, err := store.ListUsers(ctx, 1)
	if err != nil {
		return nil, fmt.Errorf("find first owner: %w", err)
	}
	for _, u := range users {
		if u.Role == vibemon.RoleOwner {
			return u, nil
		}
	}
	return nil, errors.New("no owner found in the first organization; create one with: vibemon user create --role owner")
}

func randomPassword() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
