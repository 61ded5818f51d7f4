package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// TestHTTPIngestPerClient: each client posts its own queue, in order, every
// body once; a server that accepts less than a whole batch fails the run.
func TestHTTPIngestPerClient(t *testing.T) {
	var mu sync.Mutex
	last := map[int]int{}
	seen := 0
	lossy := false
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b struct{ C, I, N int }
		if err := json.NewDecoder(r.Body).Decode(&b); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		mu.Lock()
		if prev, ok := last[b.C]; (ok && b.I != prev+1) || (!ok && b.I != 0) {
			t.Errorf("client %d posted body %d after %d", b.C, b.I, prev)
		}
		last[b.C] = b.I
		seen++
		n := b.N
		if lossy {
			n--
		}
		mu.Unlock()
		fmt.Fprintf(w, `{"accepted":%d}`, n)
	}))
	defer srv.Close()
	bodies := make([][][]byte, 3)
	sizes := make([][]int, 3)
	for c := range bodies {
		for i := 0; i < 5+c; i++ {
			bodies[c] = append(bodies[c], fmt.Appendf(nil, `{"c":%d,"i":%d,"n":%d}`, c, i, 10+i))
			sizes[c] = append(sizes[c], 10+i)
		}
	}
	res, err := HTTPIngestPerClient(context.Background(), srv.URL, "tok", bodies, sizes)
	if err != nil {
		t.Fatal(err)
	}
	want := 0
	for c := range sizes {
		for _, n := range sizes[c] {
			want += n
		}
		if last[c] != len(bodies[c])-1 {
			t.Errorf("client %d: last body %d, want %d", c, last[c], len(bodies[c])-1)
		}
	}
	if res.Readings != want || seen != 18 {
		t.Errorf("%d readings in %d posts, want %d in 18", res.Readings, seen, want)
	}

	mu.Lock()
	lossy = true
	clear(last)
	mu.Unlock()
	if _, err := HTTPIngestPerClient(context.Background(), srv.URL, "tok", bodies, sizes); err == nil || !strings.Contains(err.Error(), "readings accepted") {
		t.Errorf("a server accepting less than each batch: %v, want an error", err)
	}
}
