package firmware_test

import (
	"testing"
	"time"

	fw "github.com/vibemon/vibemon/firmware"
)

// TestTransitionTable checks every (state, event) pair: the listed ones
// move, every other pair leaves the state as it is.
func TestTransitionTable(t *testing.T) {
	type key struct {
		s fw.State
		e fw.Event
	}
	moves := map[key]fw.State{
		{fw.PowerOn, fw.EvBoot}:               fw.Initializing,
		{fw.Initializing, fw.EvInitOK}:        fw.Advertising, // bonded
		{fw.Initializing, fw.EvInitFailed}:    fw.Error,
		{fw.Initializing, fw.EvTimeout}:       fw.Error,
		{fw.Pairing, fw.EvBonded}:             fw.ConnectedIdle,
		{fw.Pairing, fw.EvTimeout}:            fw.Advertising,
		{fw.Advertising, fw.EvConnected}:      fw.ConnectedIdle,
		{fw.Advertising, fw.EvTimeout}:        fw.Disconnected,
		{fw.Reconnecting, fw.EvConnected}:     fw.ConnectedIdle,
		{fw.Reconnecting, fw.EvTimeout}:       fw.Disconnected,
		{fw.ConnectedIdle, fw.EvStartStream}:  fw.Streaming,
		{fw.ConnectedIdle, fw.EvOTABegin}:     fw.OTAUpdate,
		{fw.ConnectedIdle, fw.EvDisconnected}: fw.Disconnected,
		{fw.Streaming, fw.EvStopStream}:       fw.ConnectedIdle,
		{fw.Streaming, fw.EvOTABegin}:         fw.OTAUpdate,
		{fw.Streaming, fw.EvDisconnected}:     fw.Disconnected,
		{fw.OTAUpdate, fw.EvOTADone}:          fw.Rebooting,
		{fw.OTAUpdate, fw.EvOTAFailed}:        fw.ConnectedIdle,
		{fw.OTAUpdate, fw.EvDisconnected}:     fw.Disconnected,
		{fw.Disconnected, fw.EvTimeout}:       fw.Reconnecting,
		{fw.Disconnected, fw.EvConnected}:     fw.ConnectedIdle,
		{fw.Error, fw.EvTimeout}:              fw.Initializing,
	}
	for _, s := range []fw.State{fw.Advertising, fw.ConnectedIdle, fw.Streaming, fw.Disconnected, fw.Reconnecting} {
		moves[key{s, fw.EvPair}] = fw.Pairing
	}
	for _, s := range []fw.State{fw.ConnectedIdle, fw.Streaming, fw.Disconnected, fw.Advertising, fw.Reconnecting, fw.Pairing} {
		moves[key{s, fw.EvFault}] = fw.Error
	}
	for s := fw.PowerOn; s <= fw.Error; s++ {
		if s != fw.PowerOn {
			moves[key{s, fw.EvReboot}] = fw.Rebooting
		}
	}
	for s := fw.PowerOn; s <= fw.Error; s++ {
		for e := fw.EvBoot; e <= fw.EvTimeout; e++ {
			want, ok := moves[key{s, e}]
			if !ok {
				want = s
			}
			if got := fw.Transition(s, e, true); got != want {
				t.Errorf("%s + %s = %s, want %s", s, e, got, want)
			}
		}
	}
	// Without a bond, init leads to pairing, and pairing that times out
	// sleeps rather than advertising for a bond it does not have.
	if got := fw.Transition(fw.Initializing, fw.EvInitOK, false); got != fw.Pairing {
		t.Errorf("unbonded init-ok = %s, want pairing", got)
	}
	if got := fw.Transition(fw.Pairing, fw.EvTimeout, false); got != fw.Disconnected {
		t.Errorf("unbonded pairing timeout = %s, want disconnected", got)
	}
}

func TestMachineTimeouts(t *testing.T) {
	t0 := time.Unix(1000, 0)
	m := fw.Machine{State: fw.Disconnected, Since: t0, Bonded: true, Timeouts: fw.Timeouts{Sleep: 5 * time.Minute}}
	if m.Tick(t0.Add(5*time.Minute - time.Millisecond)) {
		t.Errorf("deep-sleep timer fired early")
	}
	if !m.Tick(t0.Add(5*time.Minute)) || m.State != fw.Reconnecting {
		t.Errorf("after the sleep timer: %s, want reconnecting", m.State)
	}
	if !m.Tick(t0.Add(5*time.Minute+10*time.Second)) || m.State != fw.Disconnected {
		t.Errorf("after a 10 s reconnect attempt: %s, want disconnected", m.State)
	}
	m = fw.Machine{State: fw.Error, Since: t0}
	if !m.Tick(t0.Add(30*time.Second)) || m.State != fw.Initializing {
		t.Errorf("error retry: %s, want initializing after 30 s", m.State)
	}
}

// TestLEDPatterns: each state has its pattern, and patterns that must be
// told apart by eye differ.
func TestLEDPatterns(t *testing.T) {
	seen := map[fw.Pattern]fw.State{}
	for s := fw.PowerOn; s <= fw.Error; s++ {
		p := fw.LED(s)
		if prev, dup := seen[p]; dup && !(prev == fw.PowerOn && s == fw.Rebooting) {
			t.Errorf("%s and %s share LED pattern %+v", prev, s, p)
		}
		seen[p] = s
	}
	ms := time.Millisecond
	tests := []struct {
		s    fw.State
		at   time.Duration
		want bool
	}{
		{fw.PowerOn, 700 * ms, true},
		{fw.Disconnected, 0, false},
		{fw.Pairing, 50 * ms, true},   // first blink
		{fw.Pairing, 150 * ms, false}, // gap
		{fw.Pairing, 250 * ms, true},  // second blink
		{fw.Pairing, 450 * ms, false}, // pause
		{fw.Error, 650 * ms, true},    // third blink
		{fw.Error, 850 * ms, false},
		{fw.Streaming, 1010 * ms, true},
	}
	for _, tt := range tests {
		if got := fw.LED(tt.s).Lit(tt.at); got != tt.want {
			t.Errorf("%s LED at %v = %v, want %v", tt.s, tt.at, got, tt.want)
		}
	}
}
