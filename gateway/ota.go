package gateway

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/vibemon/vibemon/wire"
)

// firmwareMeta is GET /firmware/{id}.
type firmwareMeta struct {
	ID        int64  `json:"id"`
	Version   string `json:"version"`
	Hardware  string `json:"hardware"`
	Size      int64  `json:"size"`
	SHA256    string `json:"sha256"`
	Signature string `json:"signature"`
}

// otaReport is POST /devices/{id}/ota-status.
type otaReport struct {
	FirmwareID int64  `json:"firmware_id"`
	Version    string `json:"version"`
	State      string `json:"state"`
	BytesDone  int64  `json:"bytes_done"`
	BytesTotal int64  `json:"bytes_total"`
	Error      string `json:"error"`
}

var hardwareNames = map[uint8]string{wire.HardwareESP32C3: "esp32c3", wire.HardwareESP32S3: "esp32s3", wire.HardwareSim: "sim"}

var otaErrors = map[wire.OTAError]string{
	wire.OTAErrChunkCRC: "chunk CRC", wire.OTAErrOffset: "offset", wire.OTAErrTooLarge: "image too large for the node's slot",
	wire.OTAErrHash: "SHA-256 mismatch", wire.OTAErrSignature: "signature refused by the node", wire.OTAErrFlash: "flash error",
	wire.OTAErrState: "wrong state", wire.OTAErrDowngrade: "not newer than the running version",
}

// startOTA starts the relay of firmware fwID to the node unless one runs,
// the node runs that version already (reported done once) or refused
// that image before.
// rolledBack says the node's last status gave a rollback as its reset
// reason, onTrial that it runs an image not confirmed yet.
func (s *nodeSession) startOTA(ctx context.Context, fwID int64, rolledBack, onTrial bool) {
	g := s.g
	oc, ok := s.conn.(OTAConn)
	if !ok || s.info.Caps&wire.CapOTA == 0 {
		return
	}
	g.mu.Lock()
	tr := g.track(s.serial)
	busy := tr.otaRunning
	if !busy {
		tr.otaRunning = true
	}
	g.mu.Unlock()
	if busy {
		return
	}
	s.otaWG.Add(1)
	go func() {
		defer s.otaWG.Done()
		err := s.relay(ctx, oc, fwID, rolledBack, onTrial)
		g.mu.Lock()
		tr.otaRunning = false
		g.mu.Unlock()
		if err != nil && ctx.Err() == nil {
			g.log.Info("OTA relay stopped; it resumes on the next round", "serial", s.serial, "firmware_id", fwID, "err", err)
		}
	}()
}

// otaTrack returns serial's track, its OTA state read from the queue file
// the first time (what a previous gateway process learned).
func (g *Gateway) otaTrack(ctx context.Context, serial string) (*nodeTrack, error) {
	g.mu.Lock()
	tr := g.track(serial)
	loaded := tr.otaLoaded
	g.mu.Unlock()
	if loaded {
		return tr, nil
	}
	st, err := g.cfg.Queue.OTAState(ctx, serial)
	if err != nil {
		return nil, err
	}
	g.mu.Lock()
	if !tr.otaLoaded {
		tr.otaTarget, tr.otaFailed, tr.otaCounted, tr.otaLoaded = st.Target, st.Failed, st.Counted, true
	}
	g.mu.Unlock()
	return tr, nil
}

// saveOTA changes tr with set and records its OTA state in the queue file,
// even while the gateway stops. One relay runs per node at a time, so the
// saves of a node do not race. A failed save is logged: the state stays in
// memory for this process.
func (g *Gateway) saveOTA(ctx context.Context, serial string, tr *nodeTrack, set func(*nodeTrack)) {
	g.mu.Lock()
	set(tr)
	st := OTAState{Target: tr.otaTarget, Failed: tr.otaFailed, Counted: tr.otaCounted}
	g.mu.Unlock()
	if err := g.cfg.Queue.SetOTAState(context.WithoutCancel(ctx), serial, st); err != nil {
		g.log.Warn("OTA state not saved: a restarted gateway may relay this image again", "serial", serial, "err", err)
	}
}

// relay downloads the image, transfers it and commits it.
func (s *nodeSession) relay(ctx context.Context, oc OTAConn, fwID int64, rolledBack, onTrial bool) error {
	g := s.g
	var meta firmwareMeta
	status, err := g.do(ctx, "GET", "/api/v1/firmware/"+strconv.FormatInt(fwID, 10), nil, &meta)
	if err != nil {
		return err
	}
	if status != 200 {
		return fmt.Errorf("GET /firmware/%d: status %d", fwID, status)
	}
	rep := otaReport{FirmwareID: fwID, Version: meta.Version, BytesTotal: meta.Size}
	running := fmt.Sprintf("%d.%d.%d", s.info.Firmware[0], s.info.Firmware[1], s.info.Firmware[2])
	tr, err := g.otaTrack(ctx, s.serial)
	if err != nil {
		return err
	}
	g.mu.Lock()
	refused := tr.otaFailed == strconv.FormatInt(fwID, 10)+":"+meta.SHA256
	started, done := tr.otaTarget == fwID, tr.otaDone == fwID
	g.mu.Unlock()
	if running == meta.Version {
		if done || onTrial {
			return nil // on trial: done once the image confirmed itself
		}
		if started && tr.otaCounted != fwID {
			// The device record says what the node runs now.
			body, _ := json.Marshal(map[string]string{"firmware_version": meta.Version})
			if st, err := g.do(ctx, "PATCH", "/api/v1/devices/"+strconv.FormatInt(s.deviceID, 10), body, nil); err != nil || st/100 != 2 {
				g.log.Debug("firmware version not updated on the server", "serial", s.serial, "status", st, "err", err)
			}
			g.m.otaDone.Inc()
			g.saveOTA(ctx, s.serial, tr, func(tr *nodeTrack) { tr.otaCounted = fwID })
			g.log.Info("OTA done: the node runs the new firmware", "serial", s.serial, "version", meta.Version)
		}
		rep.State, rep.BytesDone = "done", meta.Size
		if !started {
			rep.BytesDone = 0 // it ran this version before we were asked
		}
		if s.report(ctx, rep) == nil {
			g.mu.Lock()
			tr.otaDone = fwID
			g.mu.Unlock()
		}
		return nil
	}
	if refused {
		return nil // until the target changes
	}
	fail := func(msg string) error {
		g.saveOTA(ctx, s.serial, tr, func(tr *nodeTrack) { tr.otaFailed = strconv.FormatInt(fwID, 10) + ":" + meta.SHA256 })
		g.m.otaFailed.Inc()
		g.log.Warn("OTA failed", "serial", s.serial, "version", meta.Version, "err", msg)
		rep.State, rep.Error = "failed", msg
		s.report(ctx, rep)
		return nil
	}
	if started && rolledBack {
		// The image verified and booted but did not confirm itself: do
		// not send it again and again.
		return fail("the node rolled back to " + running + ": the new image did not confirm itself")
	}
	if hw := hardwareNames[s.info.Hardware]; hw != meta.Hardware {
		return fail(fmt.Sprintf("image is for %s, the node is %s", meta.Hardware, hw))
	}
	var sig [64]byte
	var sum [32]byte
	if b, err := hex.DecodeString(meta.Signature); err != nil || len(b) != 64 {
		return fail("the server's signature is not 64 bytes of hex")
	} else {
		copy(sig[:], b)
	}
	ver, err := parseVersion(meta.Version)
	if err != nil {
		return fail(err.Error())
	}
	if !g.haveImage(meta) {
		// Only when there is something to fetch: a relay resumed after a
		// lost status or a disconnect goes on "transferring" from the
		// node's offset, and does not show 0 bytes "downloading" again.
		rep.State = "downloading"
		s.report(ctx, rep)
	}
	img, err := g.download(ctx, fwID, meta)
	if err != nil {
		return err
	}
	copy(sum[:], sha256Of(img))

	g.saveOTA(ctx, s.serial, tr, func(tr *nodeTrack) { tr.otaTarget = fwID })
	notes := oc.OTANotifications()
	var defrag wire.Defragmenter
	// await writes cmd and waits for the node's OTA status. The command is
	// written with response, so it took effect; only its status may be
	// lost on the air (a notification). Then OTAQuery asks for the status
	// again (it changes nothing on the node), up to otaStatusRetries times,
	// before the relay gives up for this round.
	await := func(cmd wire.Command) (wire.OTAStatus, error) {
		b := wire.AppendCommand(nil, &cmd)
		if err := oc.WriteOTAControl(ctx, b); err != nil {
			return wire.OTAStatus{}, err
		}
		for try := 0; ; try++ {
			st, err := awaitOTAStatus(ctx, notes, &defrag, g.cfg.OTAStatusTimeout)
			if !errors.Is(err, errNoOTAStatus) || try == otaStatusRetries {
				return st, err
			}
			g.m.otaStatusRetries.Inc()
			g.log.Debug("OTA status lost; asking again", "serial", s.serial, "op", cmd.Op, "try", try+1)
			defrag = wire.Defragmenter{} // a fragment of the lost packet may be waiting
			q := wire.AppendCommand(nil, &wire.Command{Op: wire.OpOTAQuery})
			if err := oc.WriteOTAControl(ctx, q); err != nil {
				return wire.OTAStatus{}, err
			}
		}
	}
	st, err := await(wire.Command{Op: wire.OpOTABegin, Size: uint32(len(img)), Version: ver, SHA256: sum, Signature: sig})
	if err != nil {
		return err
	}
	if st.State != wire.OTAReceiving {
		return fail("node refused the transfer: " + otaErrors[st.Error])
	}
	chunk := min(int(st.MaxChunk), s.conn.MTU()-wire.OTADataOverhead, wire.MaxOTAChunk)
	if chunk <= 0 {
		return fail("the link's MTU is too small for OTA data")
	}
	off := st.NextOffset
	rep.State = "transferring"
	lastReport := time.Time{}
	var buf []byte
	for off < uint32(len(img)) {
		// A window of 16 chunks, then ask where the node is: a chunk
		// lost on the air makes the node drop the rest (offset error),
		// and the sender goes back to its NextOffset.
		for i := 0; i < 16 && off < uint32(len(img)); i++ {
			end := min(int(off)+chunk, len(img))
			buf = wire.AppendOTAData(buf[:0], off, img[off:end])
			if err := oc.WriteOTAData(ctx, buf); err != nil {
				return err
			}
			g.m.otaBytes.Add(float64(end - int(off)))
			off = uint32(end)
		}
		st, err = await(wire.Command{Op: wire.OpOTAQuery})
		if err != nil {
			return err
		}
		if st.State != wire.OTAReceiving {
			return fail("transfer stopped: " + otaErrors[st.Error])
		}
		off = st.NextOffset
		if time.Since(lastReport) > time.Second || off == uint32(len(img)) {
			rep.BytesDone = int64(off)
			s.report(ctx, rep)
			lastReport = time.Now()
		}
	}
	rep.State, rep.BytesDone = "verifying", int64(len(img))
	s.report(ctx, rep)
	st, err = await(wire.Command{Op: wire.OpOTACommit})
	if err != nil && !errors.Is(err, ErrDisconnected) {
		return err
	}
	if err == nil && st.State != wire.OTAReady {
		return fail("node refused the image: " + otaErrors[st.Error])
	}
	rep.State = "rebooting"
	s.report(ctx, rep)
	g.log.Info("OTA image verified by the node; it reboots into it on trial", "serial", s.serial, "version", meta.Version)
	return nil
}

func sha256Of(b []byte) []byte { s := sha256.Sum256(b); return s[:] }

func parseVersion(v string) ([3]uint8, error) {
	var out [3]uint8
	parts := strings.Split(v, ".")
	if len(parts) != 3 {
		return out, fmt.Errorf("version %q is not major.minor.patch", v)
	}
	for i, p := range parts {
		n, err := strconv.ParseUint(p, 10, 8)
		if err != nil {
			return out, fmt.Errorf("version %q is not major.minor.patch", v)
		}
		out[i] = uint8(n)
	}
	return out, nil
}

// otaStatusRetries is how often a lost OTA status is asked for again
// (OTAQuery) before the relay gives up for the round.
const otaStatusRetries = 3

var errNoOTAStatus = errors.New("no OTA status from the node")

// awaitOTAStatus waits for the next OTA status packet and returns the
// newest one that arrived by then.
func awaitOTAStatus(ctx context.Context, notes <-chan []byte, d *wire.Defragmenter, timeout time.Duration) (wire.OTAStatus, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	var st wire.OTAStatus
	got := false
	feed := func(b []byte) {
		pkt, err := d.Feed(b)
		if err != nil || pkt == nil {
			return
		}
		var h wire.Header
		p, err := wire.DecodeHeader(pkt, &h)
		if err == nil && h.Type == wire.TypeOTAStatus && wire.DecodeOTAStatus(p, &st) == nil {
			got = true
		}
	}
	for !got {
		select {
		case <-ctx.Done():
			return st, ctx.Err()
		case <-t.C:
			return st, errNoOTAStatus
		case b, ok := <-notes:
			if !ok {
				return st, ErrDisconnected
			}
			feed(b)
		}
	}
	for { // newer ones already here win
		select {
		case b, ok := <-notes:
			if !ok {
				return st, nil
			}
			feed(b)
		default:
			return st, nil
		}
	}
}

// report posts OTA progress to the server (best effort: logged).
func (s *nodeSession) report(ctx context.Context, rep otaReport) error {
	body, _ := json.Marshal(rep)
	status, err := s.g.do(ctx, "POST", "/api/v1/devices/"+strconv.FormatInt(s.deviceID, 10)+"/ota-status", body, nil)
	if err == nil && status/100 != 2 {
		err = fmt.Errorf("status %d", status)
	}
	if err != nil {
		s.g.log.Debug("OTA status not reported", "serial", s.serial, "state", rep.State, "err", err)
	}
	return err
}

// firmwareDir is where downloaded images are kept: FirmwareDir, or a
// "firmware" directory next to the queue file.
func (g *Gateway) firmwareDir() string {
	if g.cfg.FirmwareDir != "" {
		return g.cfg.FirmwareDir
	}
	return filepath.Join(filepath.Dir(g.cfg.Queue.Path()), "firmware")
}

// haveImage says whether the image is on disk already (download will not
// fetch it).
func (g *Gateway) haveImage(meta firmwareMeta) bool {
	if len(meta.SHA256) != 64 || strings.Trim(meta.SHA256, "0123456789abcdef") != "" {
		return false
	}
	b, err := os.ReadFile(filepath.Join(g.firmwareDir(), meta.SHA256+".img"))
	return err == nil && hex.EncodeToString(sha256Of(b)) == meta.SHA256
}

// download returns the image, from disk when it was fetched before;
// otherwise it fetches it with Range requests from where a cut-short
// download stopped (<sha256>.part), checks the SHA-256 and keeps it as
// <sha256>.img.
func (g *Gateway) download(ctx context.Context, fwID int64, meta firmwareMeta) ([]byte, error) {
	dir := g.firmwareDir()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if len(meta.SHA256) != 64 || strings.Trim(meta.SHA256, "0123456789abcdef") != "" {
		return nil, fmt.Errorf("firmware %d: bad sha256 %q", fwID, meta.SHA256)
	}
	final := filepath.Join(dir, meta.SHA256+".img")
	if b, err := os.ReadFile(final); err == nil && hex.EncodeToString(sha256Of(b)) == meta.SHA256 {
		return b, nil
	}
	part := filepath.Join(dir, meta.SHA256+".part")
	f, err := os.OpenFile(part, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	have, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return nil, err
	}
	if have < meta.Size {
		req, err := http.NewRequestWithContext(ctx, "GET", g.cfg.Server+"/api/v1/firmware/"+strconv.FormatInt(fwID, 10)+"/image", nil)
		if err != nil {
			return nil, err
		}
		if tok, err := g.cfg.TokenSource.Token(ctx); err != nil {
			return nil, err
		} else if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		if have > 0 {
			req.Header.Set("Range", "bytes="+strconv.FormatInt(have, 10)+"-")
			req.Header.Set("If-Range", `"`+meta.SHA256+`"`)
		}
		resp, err := g.cfg.HTTPClient.Do(req)
		if err != nil {
			return nil, &errServer{op: "download firmware", err: err}
		}
		defer resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusPartialContent:
		case http.StatusOK: // the whole image: start over
			if err := f.Truncate(0); err != nil {
				return nil, err
			}
			if _, err := f.Seek(0, io.SeekStart); err != nil {
				return nil, err
			}
		default:
			return nil, &errServer{op: "download firmware", status: resp.StatusCode}
		}
		if _, err := io.Copy(f, io.LimitReader(resp.Body, meta.Size)); err != nil {
			return nil, &errServer{op: "download firmware", err: err} // the part file keeps what came
		}
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, err
	}
	if hex.EncodeToString(sha256Of(b)) != meta.SHA256 {
		f.Truncate(0)
		return nil, fmt.Errorf("firmware %d: downloaded image does not match its SHA-256; fetching it again", fwID)
	}
	if err := os.WriteFile(final+".tmp", b, 0o644); err != nil {
		return nil, err
	}
	if err := os.Rename(final+".tmp", final); err != nil {
		return nil, err
	}
	os.Remove(part)
	g.log.Info("firmware downloaded", "firmware_id", fwID, "version", meta.Version, "bytes", len(b))
	return bytes.Clone(b), nil
}
