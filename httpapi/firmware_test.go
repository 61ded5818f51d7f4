package httpapi

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"testing"

	"github.com/vibemon/vibemon"
)

// An admin uploads a signed image; a gateway (engineer) downloads it in
// two ranges, as after a cut; a viewer may not upload.
func TestFirmwareUploadAndRangeDownload(t *testing.T) {
	e := newTestEnv(t)
	a := e.newTenant(t, "acme")
	_, priv, _ := ed25519.GenerateKey(bytes.NewReader(make([]byte, 64)))
	img := bytes.Repeat([]byte("vibemon firmware "), 3000)
	sum := sha256.Sum256(img)
	sig := hex.EncodeToString(ed25519.Sign(priv, sum[:]))
	path := "/api/v1/firmware?version=1.1.0&hardware=esp32c3&signature=" + sig
	e.do(t, request{method: "POST", path: path, token: a.token(vibemon.RoleViewer), body: img}).wantError(t, vibemon.EFORBIDDEN)
	e.do(t, request{method: "POST", path: "/api/v1/firmware?version=1.1&hardware=esp32c3&signature=" + sig, token: a.token(vibemon.RoleAdmin), body: img}).wantError(t, vibemon.EINVALID)
	var f vibemon.FirmwareImage
	e.do(t, request{method: "POST", path: path, token: a.token(vibemon.RoleAdmin), body: img}).wantStatus(t, 201).decode(t, &f)
	if f.SHA256 != hex.EncodeToString(sum[:]) || f.Size != int64(len(img)) {
		t.Fatalf("uploaded %+v: want the server's digest and size", f)
	}
	e.do(t, request{method: "POST", path: path, token: a.token(vibemon.RoleAdmin), body: img}).wantError(t, vibemon.ECONFLICT)

	imgPath := fmt.Sprintf("/api/v1/firmware/%d/image", f.ID)
	first := e.do(t, request{method: "GET", path: imgPath, token: a.token(vibemon.RoleEngineer), header: map[string]string{"Range": "bytes=0-9999"}}).wantStatus(t, 206)
	rest := e.do(t, request{method: "GET", path: imgPath, token: a.token(vibemon.RoleEngineer),
		header: map[string]string{"Range": "bytes=10000-", "If-Range": first.header.Get("ETag")}}).wantStatus(t, 206)
	if got := append(first.body, rest.body...); !bytes.Equal(got, img) {
		t.Errorf("two ranges gave %d bytes, not the image (%d)", len(got), len(img))
	}
	if first.header.Get("X-Image-SHA256") != f.SHA256 || first.header.Get("X-Image-Signature") != sig {
		t.Errorf("image headers %v: want the digest and signature", first.header)
	}
	var list items[vibemon.FirmwareImage]
	e.do(t, request{method: "GET", path: "/api/v1/firmware", token: a.token(vibemon.RoleViewer)}).wantStatus(t, 200).decode(t, &list)
	if len(list.Items) != 1 || list.Items[0].ID != f.ID {
		t.Errorf("list = %+v", list)
	}

	// An image whose bytes a server with VIBEMON_BLOB_URL put in a bucket:
	// this server, without the setting, says so instead of sending nothing.
	ext := &vibemon.FirmwareImage{OrgID: a.org.ID, Version: "1.2.0", Hardware: "esp32c3", Signature: sig, Size: 10, SHA256: f.SHA256, External: true}
	if err := e.store.CreateFirmware(t.Context(), ext); err != nil {
		t.Fatal(err)
	}
	resp := e.do(t, request{method: "GET", path: fmt.Sprintf("/api/v1/firmware/%d/image", ext.ID), token: a.token(vibemon.RoleEngineer)})
	resp.wantError(t, vibemon.EUNAVAILABLE)
	if !bytes.Contains(resp.body, []byte("VIBEMON_BLOB_URL")) {
		t.Errorf("the error does not name the setting: %s", resp.body)
	}
}

// An engineer sets a device's settings and target firmware; bad values
// are refused with the field named; a gateway's OTA report shows.
func TestDeviceSettingsAndOTAStatus(t *testing.T) {
	e := newTestEnv(t)
	a := e.newTenant(t, "acme")
	f := &vibemon.FirmwareImage{OrgID: a.org.ID, Version: "1.1.0", Hardware: "sim", Signature: hex.EncodeToString(make([]byte, 64)), Data: []byte("x")}
	if err := e.store.CreateFirmware(t.Context(), f); err != nil {
		t.Fatal(err)
	}
	p := fmt.Sprintf("/api/v1/devices/%d/settings", a.device.ID)
	e.do(t, request{method: "PUT", path: p, token: a.token(vibemon.RoleViewer), body: map[string]any{"interval_s": 5}}).wantError(t, vibemon.EFORBIDDEN)
	d := e.do(t, request{method: "PUT", path: p, token: a.token(vibemon.RoleEngineer), body: map[string]any{"range_g": 8}}).wantError(t, vibemon.EINVALID)
	if !bytes.Contains([]byte(d.Message), []byte("together")) {
		t.Errorf("message %q does not say the three go together", d.Message)
	}
	var got vibemon.DeviceSettings
	e.do(t, request{method: "PUT", path: p, token: a.token(vibemon.RoleEngineer), body: map[string]any{"interval_s": 5, "target_firmware_id": f.ID}}).wantStatus(t, 200)
	e.do(t, request{method: "GET", path: p, token: a.token(vibemon.RoleViewer)}).wantStatus(t, 200).decode(t, &got)
	if got.IntervalS != 5 || got.TargetFirmwareID != f.ID {
		t.Errorf("settings = %+v", got)
	}
	d = e.do(t, request{method: "PUT", path: p, token: a.token(vibemon.RoleEngineer), body: map[string]any{"burst_every_s": 5}}).wantError(t, vibemon.EINVALID)
	if !bytes.Contains([]byte(d.Message), []byte("burst_every_s must be 10..")) {
		t.Errorf("message %q does not name burst_every_s and its range", d.Message)
	}
	d = e.do(t, request{method: "PUT", path: p, token: a.token(vibemon.RoleEngineer), body: map[string]any{"burst_every_s": 10, "burst_frames": 20000}}).wantError(t, vibemon.EINVALID)
	if !bytes.Contains([]byte(d.Message), []byte("20000 frames takes 20.0 s")) {
		t.Errorf("message %q does not say the burst outlasts its interval", d.Message)
	}
	e.do(t, request{method: "PUT", path: p, token: a.token(vibemon.RoleEngineer), body: map[string]any{"interval_s": 5, "burst_every_s": 600, "burst_frames": 2048}}).wantStatus(t, 200)
	got = vibemon.DeviceSettings{}
	e.do(t, request{method: "GET", path: p, token: a.token(vibemon.RoleViewer)}).wantStatus(t, 200).decode(t, &got)
	if got.BurstEveryS != 600 || got.BurstFrames != 2048 || got.IntervalS != 5 || got.TargetFirmwareID != 0 {
		t.Errorf("settings = %+v, want the bursts set and the target left out (0)", got)
	}
	op := fmt.Sprintf("/api/v1/devices/%d/ota-status", a.device.ID)
	e.do(t, request{method: "GET", path: op, token: a.token(vibemon.RoleViewer)}).wantError(t, vibemon.ENOTFOUND)
	e.do(t, request{method: "POST", path: op, token: a.token(vibemon.RoleEngineer), body: map[string]any{"firmware_id": f.ID, "version": "1.1.0", "state": "transferring", "bytes_done": 10, "bytes_total": 5}}).wantError(t, vibemon.EINVALID)
	e.do(t, request{method: "POST", path: op, token: a.token(vibemon.RoleEngineer), body: map[string]any{"firmware_id": f.ID, "version": "1.1.0", "state": "transferring", "bytes_done": 1, "bytes_total": 1}}).wantStatus(t, 200)
	var st vibemon.OTAStatus
	e.do(t, request{method: "GET", path: op, token: a.token(vibemon.RoleViewer)}).wantStatus(t, 200).decode(t, &st)
	if st.State != vibemon.OTAStateTransferring || st.BytesDone != 1 || st.FirmwareID != f.ID {
		t.Errorf("ota status = %+v", st)
	}
}
