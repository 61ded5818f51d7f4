package main

import (
	"fmt"
	"testing"
	"time"
)

// TestRevokedKeyIsRefusedByTheOtherReplica runs two servers on one
// database and one Redis: an API key that replica B has already accepted
// (and cached) is refused by B soon after it is revoked on replica A —
// long before the 30 s its copy may live in Redis, so through the forget
// event, not a TTL.
func TestRevokedKeyIsRefusedByTheOtherReplica(t *testing.T) {
	env, _ := clusterEnv(t)
	a := startProgram(t, env, "serve", "--addr", "127.0.0.1:0")
	b := startProgram(t, env, "serve", "--addr", "127.0.0.1:0")
	ca := login(t, a.URL, testAdminEmail, testAdminPassword)

	var key struct {
		ID  int64  `json:"id"`
		Key string `json:"key"`
	}
	if st := ca.do("POST", "/api/v1/api-keys", map[string]any{"name": "gateway", "role": "engineer"}, &key); st != 201 {
		t.Fatalf("create API key on A: status %d", st)
	}
	onB := &client{t: t, base: b.URL, token: key.Key}
	for range 2 { // the second from B's cache
		if st := onB.do("GET", "/api/v1/assets", nil, nil); st != 200 {
			t.Fatalf("GET /assets on B with the new key: status %d, want 200", st)
		}
	}
	if st := ca.do("DELETE", fmt.Sprintf("/api/v1/api-keys/%d", key.ID), nil, nil); st != 204 && st != 200 {
		t.Fatalf("revoke the key on A: status %d", st)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := onB.do("GET", "/api/v1/assets", nil, nil)
		if st == 401 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("B still answers %d with the key revoked on A 10 s ago, want 401", st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
