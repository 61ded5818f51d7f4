package gateway

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/vibemon/vibemon/wire"
)

// OTAConn is a Conn that also reaches the OTA characteristics. A Conn
// without them gets settings but no firmware updates.
type OTAConn interface {
	Conn
	// WriteOTAControl writes one OTA command to OTA Control (write with
	// response); the node answers with an OTA status notification.
	WriteOTAControl(ctx context.Context, cmd []byte) error
	// WriteOTAData writes one OTA data chunk (write without response: it
	// may be lost; the node's next status says where to go on).
	WriteOTAData(ctx context.Context, chunk []byte) error
	// OTANotifications delivers OTA Control notifications (OTA status
	// packets, in fragments when the MTU is small).
	OTANotifications() <-chan []byte
}

// desiredSettings is GET /devices/{id}/settings.
type desiredSettings struct {
	IntervalS        int   `json:"interval_s"`
	RangeG           int   `json:"range_g"`
	SampleRateHz     int   `json:"sample_rate_hz"`
	Window           int   `json:"window"`
	TargetFirmwareID int64 `json:"target_firmware_id"`
	BurstEveryS      int   `json:"burst_every_s"`
	BurstFrames      int   `json:"burst_frames"`
}

// nodeTrack is what the gateway remembers of a node across sessions: the
// OTA it runs or gave up on. otaFailed, otaTarget and otaCounted are also
// in the queue file (OTAState, read by otaTrack), as are the settings it
// delivered (Queue.Delivered).
type nodeTrack struct {
	otaRunning bool
	otaLoaded  bool   // the fields below hold the queue file's OTAState
	otaFailed  string // "<firmware id>:<sha256>" of an image the node refused
	otaTarget  int64  // the firmware id of the last transfer started
	otaDone    int64  // the firmware id reported done (by this process)
	otaCounted int64  // the firmware id counted in ota_updates_total
}

func (g *Gateway) track(serial string) *nodeTrack {
	if g.nodes == nil {
		g.nodes = map[string]*nodeTrack{}
	}
	t := g.nodes[serial]
	if t == nil {
		t = &nodeTrack{}
		g.nodes[serial] = t
	}
	return t
}

// liveRanges are the ranges a live (not replayed) summary reported.
type liveRanges struct {
	ok     bool
	rangeG uint8
	rate   uint16
	window uint16
}

// manage (once the device has its server id) fetches the node's desired settings and target firmware and
// applies them: the server wins. A node reporting a value other than the
// one this gateway delivered before is a conflict (logged, counted); a
// value the server changed since is a delivery. Server errors skip the
// round (the next one retries).
func (s *nodeSession) manage(ctx context.Context) error {
	g := s.g
	// The upload path registers the device (and counts a failure);
	// settings wait for its id.
	rec, err := g.cfg.Queue.Device(ctx, s.serial)
	if err != nil || rec.DeviceID == 0 {
		return nil
	}
	id := rec.DeviceID
	s.managed = true
	if s.deviceID == 0 {
		s.deviceID = id // set before any relay goroutine reads it
	}
	var ds desiredSettings
	status, err := g.do(ctx, "GET", "/api/v1/devices/"+strconv.FormatInt(id, 10)+"/settings", nil, &ds)
	if err != nil || status != 200 {
		g.log.Debug("settings: not fetched", "serial", s.serial, "status", status, "err", err)
		return nil
	}
	applied, err := g.cfg.Queue.Delivered(ctx, s.serial)
	if err != nil {
		g.log.Warn("settings: skipped this round", "serial", s.serial, "err", err)
		return nil
	}
	if ds.IntervalS > 0 && s.haveStatus && int(s.st.IntervalS) != ds.IntervalS {
		s.settingDiffers("interval_s", int(s.st.IntervalS), ds.IntervalS, applied.IntervalS == ds.IntervalS)
		if err := s.write(ctx, wire.Command{Op: wire.OpSetInterval, IntervalS: uint16(ds.IntervalS)}); err != nil {
			return err
		}
		s.st.IntervalS = uint16(ds.IntervalS) // the next status confirms it
	}
	rangesKnown := ds.RangeG > 0 && s.live.ok
	if rangesKnown && (int(s.live.rangeG) != ds.RangeG || int(s.live.rate) != ds.SampleRateHz || int(s.live.window) != ds.Window) {
		same := applied.RangeG == ds.RangeG && applied.SampleRateHz == ds.SampleRateHz && applied.Window == ds.Window
		s.settingDiffers("ranges", fmt.Sprintf("%dg/%dHz/%d", s.live.rangeG, s.live.rate, s.live.window),
			fmt.Sprintf("%dg/%dHz/%d", ds.RangeG, ds.SampleRateHz, ds.Window), same)
		if err := s.write(ctx, wire.Command{Op: wire.OpSetRanges, RangeG: uint8(ds.RangeG), SampleRate: uint16(ds.SampleRateHz), Window: uint16(ds.Window)}); err != nil {
			return err
		}
		s.live.ok = false // compare again on a summary measured with them
	}
	// From here on a node that reports other values has diverged from
	// what it was given: a conflict.
	// Kept in the queue file, so this holds across a gateway restart.
	next := applied
	if ds.IntervalS > 0 && s.haveStatus {
		next.IntervalS = ds.IntervalS
	}
	if rangesKnown {
		next.RangeG, next.SampleRateHz, next.Window = ds.RangeG, ds.SampleRateHz, ds.Window
	}
	if next != applied {
		if err := g.cfg.Queue.SetDelivered(ctx, s.serial, next); err != nil {
			g.log.Warn("settings: delivered values not recorded", "serial", s.serial, "err", err)
		}
	}
	s.setBurstSchedule(ds.BurstEveryS, ds.BurstFrames)
	if ds.TargetFirmwareID != 0 {
		s.startOTA(ctx, ds.TargetFirmwareID, s.haveStatus && s.st.ResetReason == wire.ResetRollback,
			s.haveStatus && s.st.Flags&wire.StatusPendingOTA != 0)
	}
	return nil
}

// settingDiffers logs and counts a node value that is not the server's.
func (s *nodeSession) settingDiffers(name string, node, server any, conflict bool) {
	if conflict {
		s.g.m.settingsConflicts.Inc()
		s.g.log.Warn("settings conflict: the node reports another value; the server wins", "serial", s.serial,
			"setting", name, "node", node, "server", server)
		return
	}
	s.g.m.settingsApplied.Inc()
	s.g.log.Info("settings applied", "serial", s.serial, "setting", name, "from", node, "to", server)
}

// setBurstSchedule applies the device's burst settings: how often the
// session asks the node for a raw burst and how many frames; 0 leaves each
// to the gateway's Config (--burst-every, --burst-frames). Bursts are asked
// for by the gateway, so there is nothing on the node to conflict with: a
// change is logged and takes effect at once.
func (s *nodeSession) setBurstSchedule(everyS, frames int) {
	every, n := s.g.cfg.BurstEvery, s.g.cfg.BurstFrames
	if everyS > 0 {
		every = time.Duration(everyS) * time.Second
	}
	if frames > 0 {
		n = frames
	}
	if every == s.burstEvery && n == s.burstFrames {
		return
	}
	s.g.log.Info("burst schedule", "serial", s.serial, "every", every, "frames", n,
		"server_every_s", everyS, "server_frames", frames)
	if n > int(s.info.MaxBurst) && s.info.MaxBurst > 0 {
		s.g.log.Warn("burst larger than the node can hold: it sends its maximum", "serial", s.serial, "frames", n, "node_max", s.info.MaxBurst)
	}
	s.burstEvery, s.burstFrames = every, n
}
