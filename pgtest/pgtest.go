// Package pgtest gives tests the test PostgreSQL server: its URL from
// VIBEMON_TEST_DATABASE_URL and a fresh schema per test, dropped when the
// test ends. Without the variable a test skips, and fails under
// VIBEMON_TEST_STRICT=1 (CI sets both; .ci/run starts the server).
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	neturl "net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// URL returns VIBEMON_TEST_DATABASE_URL, skipping the test when it is
// unset (failing it when VIBEMON_TEST_STRICT=1).
func URL(t testing.TB) string {
	t.Helper()
	url := os.Getenv("VIBEMON_TEST_DATABASE_URL")
	if url == "" {
		if os.Getenv("VIBEMON_TEST_STRICT") == "1" {
			t.Fatal("VIBEMON_TEST_DATABASE_URL is unset and VIBEMON_TEST_STRICT=1: the PostgreSQL tests must run")
		}
		t.Skip("VIBEMON_TEST_DATABASE_URL is unset; set it (e.g. postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable) to run the PostgreSQL tests")
	}
	return url
}

// Schema returns a fresh schema name ("vibemon_test_" and 12 hex digits)
// for url, dropped with everything in it when the test ends.
func Schema(t testing.TB, url string) string {
	t.Helper()
	b := make([]byte, 6)
	rand.Read(b)
	schema := "vibemon_test_" + hex.EncodeToString(b)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return schema
}

// Database creates an empty database vibemon_<prefix>_<nanotime> on the
// server of url, dropped (with its connections) when the test ends, and
// returns its URL: for tests of a whole program, which keeps its tables in
// the database's public schema.
func Database(t testing.TB, url, prefix string) string {
	t.Helper()
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect to %s: %v", url, err)
	}
	defer admin.Close(ctx)
	name := fmt.Sprintf("vibemon_%s_%d", prefix, time.Now().UnixNano())
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if c, err := pgx.Connect(context.Background(), url); err == nil {
			_, _ = c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			c.Close(context.Background())
		}
	})
	u, err := neturl.Parse(url)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}
