package main

import (
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vibemon/vibemon/gateway"
)

type waveformMeta struct {
	TS      time.Time `json:"ts"`
	Samples int       `json:"samples"`
}

// waveforms returns the device's bursts on the server, oldest first.
func (r *otaRig) waveforms(devID int64) []waveformMeta {
	r.t.Helper()
	var out struct{ Items []waveformMeta }
	from := r.clock.Now().Add(-4 * time.Hour).UTC().Format(time.RFC3339)
	r.c.do("GET", fmt.Sprintf("/api/v1/devices/%d/waveforms?limit=1000&from=%s", devID, url.QueryEscape(from)), nil, &out)
	slices.Reverse(out.Items)
	return out.Items
}

// burstsSince returns the device's bursts measured after since with
// the given size, and the spacing of consecutive ones (node time).
func (r *otaRig) burstsSince(devID int64, since time.Time, samples int) (n int, spacing []time.Duration) {
	var last time.Time
	for _, w := range r.waveforms(devID) {
		if !w.TS.After(since) || w.Samples != samples {
			continue
		}
		if n > 0 {
			spacing = append(spacing, w.TS.Sub(last))
		}
		last = w.TS
		n++
	}
	return n, spacing
}

// TestGatewayTakesBurstSettingsFromTheServer: two nodes behind a gateway
// whose flags say a 512-frame burst every 2 minutes (node time, 60x). The
// server sets one node to 1024 frames every 10 s: that node's bursts on
// the server have 1024 samples and come about 10 s apart, while the other
// node keeps the gateway's 512 every 2 minutes. When the server clears the
// setting (0), the first node falls back to the flags.
func TestGatewayTakesBurstSettingsFromTheServer(t *testing.T) {
	r := newManagedRig(t, rigOpts{nodes: 2, gw: func(c *gateway.Config) {
		c.BurstEvery, c.BurstFrames, c.BurstCheck = 2*time.Minute, 512, 20*time.Millisecond
	}})
	managed := r.devID
	var other int64
	for serial, id := range r.devIDs {
		if serial != r.node.Serial() {
			other = id
		}
	}
	set := func(body map[string]any) {
		t.Helper()
		if st := r.c.do("PUT", fmt.Sprintf("/api/v1/devices/%d/settings", managed), body, nil); st != 200 {
			t.Fatalf("PUT settings %v: status %d", body, st)
		}
	}
	set(map[string]any{"burst_every_s": 10, "burst_frames": 1024})
	since := r.clock.Now()
	r.await("the managed node's 1024-frame bursts reach the server", func() (int64, bool) {
		n, _ := r.burstsSince(managed, since, 1024)
		return 0, n >= 6
	})
	n, spacing := r.burstsSince(managed, since, 1024)
	slices.Sort(spacing)
	if med := spacing[len(spacing)/2]; med < 10*time.Second || med > 30*time.Second {
		t.Errorf("the managed node's %d bursts are a median %s apart (%v), want about 10 s (burst_every_s)", n, med, spacing)
	}
	// The other node, meanwhile, got the gateway's default.
	r.await("the other node's 512-frame bursts reach the server", func() (int64, bool) {
		n, _ := r.burstsSince(other, since, 512)
		return 0, n >= 3
	})
	n, spacing = r.burstsSince(other, since, 512)
	for _, d := range spacing {
		if d < 2*time.Minute-2*time.Second {
			t.Errorf("the other node's bursts are %s apart (%v), want the gateway's 2 min", d, spacing)
		}
	}
	if k, _ := r.burstsSince(other, since, 1024); k != 0 {
		t.Errorf("the other node got %d bursts of 1024 frames: the server's setting leaked to it", k)
	}

	// Clearing the setting hands the node back to the gateway's flags.
	set(map[string]any{})
	cleared := r.clock.Now()
	r.await("the managed node falls back to 512-frame bursts", func() (int64, bool) {
		n, _ := r.burstsSince(managed, cleared, 512)
		return 0, n >= 2
	})
}

// A burst flag out of range stops `vibemon gateway` at start with one line
// naming it.
func TestGatewayRefusesBadBurstFlags(t *testing.T) {
	for _, c := range []struct{ args []string }{
		{[]string{"--burst-frames", "100"}},
		{[]string{"--burst-frames", "70000"}},
		{[]string{"--burst-every", "-1s"}},
	} {
		args := append([]string{"--token", "t", "--sim-nodes", "1", "--metrics-addr", "", "--queue", filepath.Join(t.TempDir(), "q.db")}, c.args...)
		err := runGateway(t.Context(), args, func(string) string { return "" }, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), c.args[0]) {
			t.Errorf("vibemon gateway %v: err = %v, want one naming %s", c.args, err, c.args[0])
		}
	}
}
