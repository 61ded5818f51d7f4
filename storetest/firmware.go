package storetest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/vibemon/vibemon"
)

func testFirmwareImages(t *testing.T, s vibemon.Store) {
	a := newTenant(t, s, "acme")
	b := newTenant(t, s, "bravo")
	img := bytes.Repeat([]byte{0xE9, 1, 2, 3}, 10000) // 40 kB with a zero-free pattern
	f := &vibemon.FirmwareImage{OrgID: a.org.ID, Version: "1.2.0", Hardware: "esp32c3", Signature: strings.Repeat("AB", 64), Notes: "fixes", Data: img}
	must(t, s.CreateFirmware(ctx(t), f))
	sum := sha256.Sum256(img)
	if f.ID == 0 || f.Size != int64(len(img)) || f.SHA256 != hex.EncodeToString(sum[:]) || f.Signature != strings.Repeat("ab", 64) {
		t.Fatalf("created %+v: want an id, the size, the server's SHA-256 and the signature in lower case", f)
	}
	got, err := s.GetFirmware(ctx(t), a.org.ID, f.ID, true)
	must(t, err)
	if !bytes.Equal(got.Data, img) || got.Version != "1.2.0" || got.SHA256 != f.SHA256 || !got.CreatedAt.Equal(f.CreatedAt) {
		t.Errorf("GetFirmware with data = %+v (%d bytes), want the image back", got, len(got.Data))
	}
	got, err = s.GetFirmware(ctx(t), a.org.ID, f.ID, false)
	must(t, err)
	if got.Data != nil || got.Size != f.Size {
		t.Errorf("GetFirmware without data returned %d bytes", len(got.Data))
	}
	list, err := s.ListFirmware(ctx(t), a.org.ID)
	must(t, err)
	if len(list) != 1 || list[0].ID != f.ID || list[0].Data != nil {
		t.Errorf("ListFirmware = %+v, want the one image without data", list)
	}
	dup := &vibemon.FirmwareImage{OrgID: a.org.ID, Version: "1.2.0", Hardware: "esp32c3", Signature: f.Signature, Data: []byte{1}}
	wantCode(t, s.CreateFirmware(ctx(t), dup), vibemon.ECONFLICT)
	for name, bad := range map[string]vibemon.FirmwareImage{
		"version":   {OrgID: a.org.ID, Version: "1.2", Hardware: "esp32c3", Signature: f.Signature, Data: []byte{1}},
		"version>":  {OrgID: a.org.ID, Version: "1.256.0", Hardware: "esp32c3", Signature: f.Signature, Data: []byte{1}},
		"hardware":  {OrgID: a.org.ID, Version: "1.3.0", Hardware: "esp8266", Signature: f.Signature, Data: []byte{1}},
		"signature": {OrgID: a.org.ID, Version: "1.3.0", Hardware: "esp32c3", Signature: "abcd", Data: []byte{1}},
		"empty":     {OrgID: a.org.ID, Version: "1.3.0", Hardware: "esp32c3", Signature: f.Signature},
		"too large": {OrgID: a.org.ID, Version: "1.3.0", Hardware: "esp32c3", Signature: f.Signature, Data: make([]byte, vibemon.MaxFirmwareBytes+1)},
	} {
		t.Run(name, func(t *testing.T) { wantCode(t, s.CreateFirmware(ctx(t), &bad), vibemon.EINVALID) })
	}
	// An image whose bytes a BlobStore keeps: the store keeps the rest and
	// says it is External; its own images are not.
	ext := &vibemon.FirmwareImage{OrgID: a.org.ID, Version: "1.4.0", Hardware: "esp32s3", Signature: f.Signature,
		Size: 123456, SHA256: strings.Repeat("0F", 32), External: true}
	must(t, s.CreateFirmware(ctx(t), ext))
	got, err = s.GetFirmware(ctx(t), a.org.ID, ext.ID, true)
	must(t, err)
	if !got.External || len(got.Data) != 0 || got.Size != 123456 || got.SHA256 != strings.Repeat("0f", 32) {
		t.Errorf("external image read back as %+v (%d bytes of data); want External, no data, its size and digest", got, len(got.Data))
	}
	got, err = s.GetFirmware(ctx(t), a.org.ID, f.ID, true)
	must(t, err)
	if got.External || !bytes.Equal(got.Data, img) {
		t.Errorf("the image stored with its bytes reads back External=%v with %d bytes", got.External, len(got.Data))
	}
	list, err = s.ListFirmware(ctx(t), a.org.ID)
	must(t, err)
	if len(list) != 2 || !list[0].External || list[1].External {
		t.Errorf("ListFirmware = %+v, want the external image first (newest), then the stored one", list)
	}
	for name, bad := range map[string]vibemon.FirmwareImage{
		"external without digest": {OrgID: a.org.ID, Version: "1.5.0", Hardware: "esp32c3", Signature: f.Signature, Size: 10, SHA256: "abc", External: true},
		"external without size":   {OrgID: a.org.ID, Version: "1.5.0", Hardware: "esp32c3", Signature: f.Signature, SHA256: ext.SHA256, External: true},
	} {
		t.Run(name, func(t *testing.T) { wantCode(t, s.CreateFirmware(ctx(t), &bad), vibemon.EINVALID) })
	}
	// Tenancy: B sees neither the image nor it in a list.
	_, err = s.GetFirmware(ctx(t), b.org.ID, f.ID, true)
	wantCode(t, err, vibemon.ENOTFOUND)
	list, err = s.ListFirmware(ctx(t), b.org.ID)
	must(t, err)
	if len(list) != 0 {
		t.Errorf("B lists A's firmware: %+v", list)
	}
}

func testDeviceSettingsAndOTA(t *testing.T, s vibemon.Store) {
	a := newTenant(t, s, "acme")
	b := newTenant(t, s, "bravo")
	got, err := s.GetDeviceSettings(ctx(t), a.org.ID, a.device.ID)
	must(t, err)
	if *got != (vibemon.DeviceSettings{DeviceID: a.device.ID}) {
		t.Errorf("settings of a new device = %+v, want all unmanaged", got)
	}
	f := &vibemon.FirmwareImage{OrgID: a.org.ID, Version: "1.1.0", Hardware: "sim", Signature: strings.Repeat("00", 64), Data: []byte("image")}
	must(t, s.CreateFirmware(ctx(t), f))
	want := vibemon.DeviceSettings{DeviceID: a.device.ID, IntervalS: 5, RangeG: 8, SampleRateHz: 500, Window: 512, TargetFirmwareID: f.ID,
		BurstEveryS: 600, BurstFrames: 2048}
	in := want
	must(t, s.PutDeviceSettings(ctx(t), a.org.ID, &in))
	got, err = s.GetDeviceSettings(ctx(t), a.org.ID, a.device.ID)
	must(t, err)
	want.UpdatedAt = in.UpdatedAt
	if *got != want || in.UpdatedAt.IsZero() {
		t.Errorf("settings = %+v, want %+v", got, want)
	}
	for name, bad := range map[string]vibemon.DeviceSettings{
		"interval":     {DeviceID: a.device.ID, IntervalS: 70000},
		"range half":   {DeviceID: a.device.ID, RangeG: 8},
		"range":        {DeviceID: a.device.ID, RangeG: 3, SampleRateHz: 500, Window: 512},
		"window":       {DeviceID: a.device.ID, RangeG: 8, SampleRateHz: 500, Window: 500},
		"B firmware":   {DeviceID: a.device.ID, TargetFirmwareID: f.ID + 1000},
		"burst every":  {DeviceID: a.device.ID, BurstEveryS: 5},
		"burst frames": {DeviceID: a.device.ID, BurstFrames: 100},
	} {
		t.Run(name, func(t *testing.T) { wantCode(t, s.PutDeviceSettings(ctx(t), a.org.ID, &bad), vibemon.EINVALID) })
	}
	// B can neither read nor set A's device, nor target A's image.
	_, err = s.GetDeviceSettings(ctx(t), b.org.ID, a.device.ID)
	wantCode(t, err, vibemon.ENOTFOUND)
	wantCode(t, s.PutDeviceSettings(ctx(t), b.org.ID, &vibemon.DeviceSettings{DeviceID: a.device.ID, IntervalS: 1}), vibemon.ENOTFOUND)
	wantCode(t, s.PutDeviceSettings(ctx(t), b.org.ID, &vibemon.DeviceSettings{DeviceID: b.device.ID, TargetFirmwareID: f.ID}), vibemon.EINVALID)

	_, err = s.GetOTAStatus(ctx(t), a.org.ID, a.device.ID)
	wantCode(t, err, vibemon.ENOTFOUND)
	st := &vibemon.OTAStatus{DeviceID: a.device.ID, FirmwareID: f.ID, Version: "1.1.0", State: vibemon.OTAStateTransferring, BytesDone: 2, BytesTotal: 5}
	must(t, s.PutOTAStatus(ctx(t), a.org.ID, st))
	st2 := *st
	st2.State, st2.BytesDone = vibemon.OTAStateDone, 5
	must(t, s.PutOTAStatus(ctx(t), a.org.ID, &st2))
	gotSt, err := s.GetOTAStatus(ctx(t), a.org.ID, a.device.ID)
	must(t, err)
	if *gotSt != st2 {
		t.Errorf("OTA status = %+v, want the latest %+v", gotSt, st2)
	}
	wantCode(t, s.PutOTAStatus(ctx(t), a.org.ID, &vibemon.OTAStatus{DeviceID: a.device.ID, State: "bricked"}), vibemon.EINVALID)
	wantCode(t, s.PutOTAStatus(ctx(t), b.org.ID, &vibemon.OTAStatus{DeviceID: a.device.ID, State: vibemon.OTAStateDone}), vibemon.ENOTFOUND)
	_, err = s.GetOTAStatus(ctx(t), b.org.ID, a.device.ID)
	wantCode(t, err, vibemon.ENOTFOUND)

	// Deleting the device deletes its settings and status; the image stays.
	must(t, s.DeleteDevice(ctx(t), a.org.ID, a.device.ID))
	_, err = s.GetFirmware(ctx(t), a.org.ID, f.ID, false)
	must(t, err)
}
