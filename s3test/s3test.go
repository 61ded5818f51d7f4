// Package s3test runs an S3 protocol peer for tests: gofakes3 (an S3
// server in Go, objects in memory) on a loopback port, so that the s3
// package's minio-go client speaks the real S3 HTTP protocol to it.
package s3test

import (
	"net/http/httptest"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// Server is a running S3 peer.
type Server struct {
	// Endpoint is its host:port (plain http).
	Endpoint string
	// Backend holds the buckets and objects, for the test to look at or
	// change behind the client's back.
	Backend *s3mem.Backend
	http    *httptest.Server
}

// Start starts a peer with the given buckets, stopped when the test ends.
func Start(t testing.TB, buckets ...string) *Server {
	t.Helper()
	b := s3mem.New()
	for _, name := range buckets {
		if err := b.CreateBucket(name); err != nil {
			t.Fatal(err)
		}
	}
	hs := httptest.NewServer(gofakes3.New(b).Server())
	t.Cleanup(hs.Close)
	return &Server{Endpoint: hs.Listener.Addr().String(), Backend: b, http: hs}
}

// Close stops the peer (a storage outage).
func (s *Server) Close() { s.http.Close() }
