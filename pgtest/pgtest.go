// Package pgtest gives tests the test PostgreSQL server: its URL from
// VIBEMON_TEST_DATABASE_URL and a fresh schema per test, dropped when the
// test ends. Without the variable a test skips, and fails under
// VIBEMON_TEST_STRICT=1 (CI sets both; .ci/run starts the server).
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
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
