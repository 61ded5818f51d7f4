// Package timescaletest starts the TimescaleDB test server for tests:
// postgres/testdata/pglite, the TimescaleDB extension built into PGlite
// (PostgreSQL in WebAssembly) behind a PostgreSQL wire server. See
// docs/postgres.md, "TimescaleDB".
package timescaletest

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// URL starts a TimescaleDB test server for this test (stopped when it
// ends) and returns its URL. It skips the test when node or the server's
// packages are missing, and fails it under VIBEMON_TEST_STRICT=1 (CI
// installs them: npm ci --prefix postgres/testdata/pglite).
func URL(t testing.TB) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(file), "..", "postgres", "testdata", "pglite")
	missing := func(what string) {
		msg := what + "; the TimescaleDB tests need node and `npm ci --prefix postgres/testdata/pglite`"
		if os.Getenv("VIBEMON_TEST_STRICT") == "1" {
			t.Fatal(msg + " (VIBEMON_TEST_STRICT=1)")
		}
		t.Skip(msg)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("node is not installed")
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@unni-craftsman", "pglite")); err != nil {
		missing("the PGlite TimescaleDB package is not installed")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, node, "server.mjs", "0")
	cmd.Dir = dir
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start the TimescaleDB test server: %v", err)
	}
	t.Cleanup(func() { cancel(); cmd.Wait() })
	port := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if p, ok := strings.CutPrefix(sc.Text(), "listening "); ok {
				port <- p
			}
		}
	}()
	select {
	case p := <-port:
		// The server shares one session among its connections: prepared
		// statements are kept apart by the server, so pgx's default mode
		// works.
		return fmt.Sprintf("postgres://postgres:x@127.0.0.1:%s/postgres?sslmode=disable", p)
	case <-time.After(60 * time.Second):
		t.Fatal("the TimescaleDB test server did not start within a minute")
		return ""
	}
}
