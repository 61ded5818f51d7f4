package gateway

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// TestDownloadResumesWithRange: a download cut after 3000 bytes keeps
// them in <sha>.part; the next attempt asks only for the rest (Range,
// If-Range on the digest) and the image ends up whole as <sha>.img, read
// from disk after that without asking the server.
func TestDownloadResumesWithRange(t *testing.T) {
	img := bytes.Repeat([]byte("0123456789abcdef"), 1000)
	sum := sha256.Sum256(img)
	digest := hex.EncodeToString(sum[:])
	var mu sync.Mutex
	var ranges []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		ranges = append(ranges, r.Header.Get("Range"))
		first := len(ranges) == 1
		mu.Unlock()
		w.Header().Set("ETag", `"`+digest+`"`)
		if first { // promise the whole image, send 3000 bytes, hang up
			w.Header().Set("Content-Length", "16000")
			w.WriteHeader(200)
			w.Write(img[:3000])
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		}
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(img))
	}))
	defer srv.Close()
	dir := t.TempDir()
	g := &Gateway{cfg: Config{Server: srv.URL, HTTPClient: srv.Client(), TokenSource: StaticToken("t"), FirmwareDir: dir}}
	g.log = slog.New(slog.DiscardHandler)
	meta := firmwareMeta{ID: 5, Version: "1.1.0", Size: int64(len(img)), SHA256: digest}
	if _, err := g.download(context.Background(), 5, meta); err == nil {
		t.Fatal("a cut download reported success")
	}
	if fi, err := os.Stat(filepath.Join(dir, digest+".part")); err != nil || fi.Size() != 3000 {
		t.Fatalf("part file after the cut: %v, %v; want 3000 bytes kept", fi, err)
	}
	got, err := g.download(context.Background(), 5, meta)
	if err != nil || !bytes.Equal(got, img) {
		t.Fatalf("resumed download: %d bytes, %v; want the image", len(got), err)
	}
	if _, err := g.download(context.Background(), 5, meta); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(ranges) != 2 || ranges[0] != "" || ranges[1] != "bytes=3000-" {
		t.Errorf("requests' Range headers = %q, want a full request then bytes=3000- and none after", ranges)
	}
	if _, err := os.Stat(filepath.Join(dir, digest+".img")); err != nil {
		t.Errorf("image not kept on disk: %v", err)
	}
}
