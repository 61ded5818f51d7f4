package gateway

import (
	"context"
	"encoding/hex"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/vibemon/vibemon/wire"
)

// statusCheck is a Status received for the completeness check.
type statusCheck struct {
	seq      uint32 // the status packet's seq: the ring held summaries below it
	buffered int
	at       time.Time // arrival, real time
}

// session runs one connection to the node at addr until the link is lost
// or ctx ends.
func (g *Gateway) session(ctx context.Context, addr string) error {
	conn, err := g.cfg.Central.Connect(ctx, addr)
	if err != nil {
		return fmt.Errorf("connect %s: %w", addr, err)
	}
	defer conn.Close()
	infoPkt, err := conn.ReadDeviceInfo(ctx)
	if err != nil {
		return fmt.Errorf("read device info %s: %w", addr, err)
	}
	var h wire.Header
	var info wire.DeviceInfo
	p, err := wire.DecodeHeader(infoPkt, &h)
	if err == nil {
		err = wire.DecodeDeviceInfo(p, &info)
	}
	if err != nil {
		return fmt.Errorf("decode device info %s: %w", addr, err)
	}
	serial := hex.EncodeToString(info.Serial[:])
	fw := fmt.Sprintf("%d.%d.%d", info.Firmware[0], info.Firmware[1], info.Firmware[2])
	q := g.cfg.Queue
	if err := q.SeeDevice(ctx, serial, wire.DefaultLocalName+serial[len(serial)-4:], fw); err != nil {
		return err
	}
	rec, err := q.Device(ctx, serial)
	if err != nil {
		return err
	}
	s := &nodeSession{g: g, conn: conn, serial: serial, floor: rec.Acked, info: info,
		reasm: wire.NewReassembler(max(int(info.MaxBurst), 1))}
	if err := s.write(ctx, wire.Command{Op: wire.OpSetTime, Time: uint64(g.cfg.Now().UnixMilli())}); err != nil {
		return err
	}
	if err := s.write(ctx, wire.Command{Op: wire.OpResumeFrom, Seq: s.floor}); err != nil {
		return err
	}
	g.log.Debug("node connected", "addr", addr, "serial", serial, "resume_from", s.floor)
	sctx, cancel := context.WithCancel(ctx)
	defer s.otaWG.Wait()
	defer cancel() // ends an OTA relay of this session
	return s.run(sctx)
}

type nodeSession struct {
	g      *Gateway
	conn   Conn
	serial string
	floor  uint32 // the last ResumeFrom written

	defrag  wire.Defragmenter
	sum     wire.Summary
	st      wire.Status
	ev      wire.Event
	chunk   wire.BurstChunk
	reasm   *wire.Reassembler
	burstTS time.Time

	bootMs    int64 // wall ms of the node's boot, -1 until known
	early     []Reading
	pending   *statusCheck
	newStatus bool
	lastNote  time.Time
	cmd       []byte

	info       wire.DeviceInfo
	deviceID   int64 // the server's, once known
	haveStatus bool
	managed    bool // manage ran once
	live       liveRanges
	otaWG      sync.WaitGroup

	// The burst schedule: every (on the gateway's clock, Config.Now) and
	// frames, from the device's settings or the Config's defaults.
	burstEvery  time.Duration
	burstFrames int
	lastBurst   time.Time
}

func (s *nodeSession) write(ctx context.Context, c wire.Command) error {
	s.cmd = wire.AppendCommand(s.cmd[:0], &c)
	if err := s.conn.WriteControl(ctx, s.cmd); err != nil {
		return fmt.Errorf("write %#x to %s: %w", c.Op, s.serial, err)
	}
	return nil
}

func (s *nodeSession) run(ctx context.Context) error {
	s.bootMs = -1
	ack := time.NewTicker(s.g.cfg.AckEvery)
	defer ack.Stop()
	grace := time.NewTimer(time.Hour)
	grace.Stop()
	defer grace.Stop()
	// Bursts follow the gateway's clock (simulated time with simulated
	// nodes), checked every BurstCheck of real time.
	s.burstEvery, s.burstFrames, s.lastBurst = s.g.cfg.BurstEvery, s.g.cfg.BurstFrames, s.g.cfg.Now()
	burstT := time.NewTicker(s.g.cfg.BurstCheck)
	defer burstT.Stop()
	manage := time.NewTicker(s.g.cfg.ManageEvery)
	defer manage.Stop()
	notes := s.conn.Notifications()
	if err := s.write(ctx, wire.Command{Op: wire.OpRequestStatus}); err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case b, ok := <-notes:
			if !ok {
				return ErrDisconnected
			}
			s.lastNote = time.Now()
			pkt, err := s.defrag.Feed(b)
			if err != nil {
				s.g.m.badPackets.Inc()
				continue
			}
			if pkt != nil {
				s.packet(pkt)
			}
			if s.newStatus {
				s.newStatus = false
				grace.Reset(s.g.cfg.AckGrace)
				if !s.managed {
					if err := s.manage(ctx); err != nil {
						return err
					}
				}
			}
		case <-manage.C:
			if err := s.manage(ctx); err != nil {
				return err
			}
		case <-grace.C:
			done, err := s.check(ctx)
			if err != nil {
				return err
			}
			if !done {
				grace.Reset(s.g.cfg.AckGrace / 2)
			}
		case <-ack.C:
			if s.pending == nil {
				if err := s.write(ctx, wire.Command{Op: wire.OpRequestStatus}); err != nil {
					return err
				}
			}
		case <-burstT.C:
			if now := s.g.cfg.Now(); s.burstEvery > 0 && now.Sub(s.lastBurst) >= s.burstEvery {
				s.lastBurst = now
				if err := s.write(ctx, wire.Command{Op: wire.OpRequestBurst, Frames: uint16(min(s.burstFrames, 65535)), SampleRate: 1000}); err != nil {
					return err
				}
			}
		}
	}
}

// check runs the completeness check on the last status, AckGrace after it
// arrived: when the queue holds as many summaries in [floor, status seq)
// as the node buffered, it acknowledges (ResumeFrom the status seq). When
// it holds fewer and the link has been quiet for AckGrace (nothing more is
// in flight), it asks for a replay (ResumeFrom the old floor) and a new
// status. It reports false when it should be run again later.
func (s *nodeSession) check(ctx context.Context) (bool, error) {
	q := s.g.cfg.Queue
	c := s.pending
	if c == nil {
		return true, nil
	}
	if int32(c.seq-s.floor) <= 0 { // a status from before the last acknowledgement
		s.pending = nil
		return true, nil
	}
	if err := q.Flush(ctx); err != nil {
		return false, err
	}
	held, err := q.CountHeld(ctx, s.serial, s.floor, c.seq)
	if err != nil {
		return false, err
	}
	if held >= c.buffered {
		if s.floor != 0 && held < int(c.seq-s.floor) { // see infer.go
			if err := s.recordInferredLoss(ctx, s.floor, c.seq); err != nil {
				return false, err
			}
		}
		if err := q.SetAcked(ctx, s.serial, c.seq); err != nil {
			return false, err
		}
		if err := s.write(ctx, wire.Command{Op: wire.OpResumeFrom, Seq: c.seq}); err != nil {
			return false, err
		}
		s.floor, s.pending = c.seq, nil
		s.g.m.acks.Inc()
		return true, nil
	}
	if time.Since(s.lastNote) < s.g.cfg.AckGrace && time.Since(c.at) < 60*s.g.cfg.AckGrace {
		return false, nil // notifications are still coming
	}
	s.g.log.Debug("completeness check short, replaying", "serial", s.serial, "from", s.floor, "to", c.seq, "held", held, "node_buffered", c.buffered)
	s.pending = nil
	if err := s.write(ctx, wire.Command{Op: wire.OpResumeFrom, Seq: s.floor}); err != nil {
		return false, err
	}
	s.g.m.replays.Inc()
	return true, s.write(ctx, wire.Command{Op: wire.OpRequestStatus})
}

func (s *nodeSession) packet(pkt []byte) {
	var h wire.Header
	payload, err := wire.DecodeHeader(pkt, &h)
	if err != nil {
		s.g.m.badPackets.Inc()
		return
	}
	switch h.Type {
	case wire.TypeSummary:
		if wire.DecodeSummary(payload, &s.sum) != nil {
			s.g.m.badPackets.Inc()
			return
		}
		if h.Flags&wire.FlagReplay == 0 {
			s.live = liveRanges{ok: true, rangeG: s.sum.RangeG, rate: s.sum.SampleRate, window: s.sum.Samples}
		}
		r := Reading{Serial: s.serial, Seq: h.Seq}
		for i := range r.Values {
			r.Values[i] = math.NaN()
		}
		for i, v := range s.sum.Values {
			r.Values[i] = float64(v)
		}
		if rssi := s.conn.RSSI(); rssi != 0 {
			r.Values[wire.NumMetrics] = float64(rssi)
		}
		if h.Flags&wire.FlagUptime != 0 {
			if s.bootMs < 0 {
				r.TS = time.UnixMilli(int64(h.Time)) // resolved when the boot time is known
				s.early = append(s.early, r)
				return
			}
			r.TS = time.UnixMilli(s.bootMs + int64(h.Time))
		} else {
			r.TS = time.UnixMilli(int64(h.Time))
		}
		s.g.cfg.Queue.Add(r)
		s.g.m.received.Inc()
	case wire.TypeStatus:
		if wire.DecodeStatus(payload, &s.st) != nil {
			s.g.m.badPackets.Inc()
			return
		}
		if h.Flags&wire.FlagUptime == 0 && s.bootMs < 0 {
			s.bootMs = int64(h.Time) - int64(s.st.UptimeS)*1000
			for _, r := range s.early {
				r.TS = time.UnixMilli(s.bootMs + r.TS.UnixMilli())
				s.g.cfg.Queue.Add(r)
				s.g.m.received.Inc()
			}
			s.early = nil
		}
		s.haveStatus = true
		s.pending = &statusCheck{seq: h.Seq, buffered: int(s.st.Buffered), at: time.Now()}
		s.newStatus = true
	case wire.TypeEvent:
		if wire.DecodeEvent(payload, &s.ev) != nil {
			s.g.m.badPackets.Inc()
			return
		}
		if s.ev.Code == wire.EventDataLost {
			s.g.cfg.Queue.AddGap(Gap{Serial: s.serial, First: s.ev.Arg2, Count: s.ev.Arg1, Reason: GapNodeOverflow})
			s.g.m.nodeLost.Add(float64(s.ev.Arg1))
			s.g.log.Warn("node lost summaries", "serial", s.serial, "count", s.ev.Arg1, "first_seq", s.ev.Arg2)
		}
	case wire.TypeBurstChunk:
		if wire.DecodeBurstChunk(payload, &s.chunk) != nil {
			s.g.m.badPackets.Inc()
			return
		}
		if s.chunk.Index == 0 || s.burstTS.IsZero() {
			s.burstTS = time.UnixMilli(int64(h.Time))
		}
		done, err := s.reasm.Add(&s.chunk)
		if err != nil {
			s.g.m.badPackets.Inc()
			return
		}
		if done {
			meta, data, ok := s.reasm.Burst()
			if ok {
				b := Burst{Serial: s.serial, TS: s.burstTS, RateHz: float64(meta.RateMilliHz) / 1000, Scale: meta.Scale,
					Axes: int(meta.Axes), Data: data}
				if dropped, err := s.g.cfg.Queue.AddBurst(context.Background(), b); err != nil {
					s.g.log.Error("burst not queued", "serial", s.serial, "err", err)
				} else if dropped > 0 {
					s.g.log.Warn("queue full of bursts: dropped the oldest", "serial", s.serial, "dropped", dropped)
				}
			}
			s.reasm.Reset()
			s.burstTS = time.Time{}
		}
	}
}
