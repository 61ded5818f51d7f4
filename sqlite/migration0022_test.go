package sqlite

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/vibemon/vibemon"
)

// TestMigration0022KeepsImagesTargetsAndIDs builds a database at schema 21
// with two firmware images (a third deleted) and a device whose settings
// target the second, opens it (which rebuilds firmware_images in 0022 with
// foreign keys on, so dropping the old table nulls the target) and checks
// that the images, the target and the id counter survived.
func TestMigration0022KeepsImagesTargetsAndIDs(t *testing.T) {
	path, db, exec := atSchema(t, 22)
	exec("INSERT INTO orgs (id, name, created_at) VALUES (1, 'plant', 0)")
	exec("INSERT INTO devices (id, org_id, serial, name, firmware_version, created_at) VALUES (7, 1, 'n1', 'pump DE', '1.0.0', 0)")
	img := bytes.Repeat([]byte{0xE9, 5}, 3000)
	sum := sha256.Sum256(img)
	insert := `INSERT INTO firmware_images (id, org_id, version, hardware, size, sha256, signature, notes, data, created_at)
		VALUES (?, 1, ?, 'esp32c3', ?, ?, ?, '', ?, 0)`
	sig := strings.Repeat("ab", 64)
	exec(insert, 1, "1.0.0", len(img), hex.EncodeToString(sum[:]), sig, img)
	exec(insert, 2, "1.1.0", len(img), hex.EncodeToString(sum[:]), sig, img)
	exec(insert, 3, "1.2.0", len(img), hex.EncodeToString(sum[:]), sig, img)
	exec("DELETE FROM firmware_images WHERE id = 3")
	exec("INSERT INTO device_settings (device_id, target_firmware_id, updated_at) VALUES (7, 2, 0)")
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s := openTest(t, path)
	ds, err := s.GetDeviceSettings(t.Context(), 1, 7)
	if err != nil {
		t.Fatal(err)
	}
	if ds.TargetFirmwareID != 2 {
		t.Errorf("the device's target firmware after 0022 is %d, want 2", ds.TargetFirmwareID)
	}
	f, err := s.GetFirmware(t.Context(), 1, 1, true)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(f.Data, img) || f.External || f.Version != "1.0.0" {
		t.Errorf("image 1 after 0022: version %s, External %v, %d bytes (want the original %d)", f.Version, f.External, len(f.Data), len(img))
	}
	nf := &vibemon.FirmwareImage{OrgID: 1, Version: "2.0.0", Hardware: "esp32c3", Signature: sig, Data: []byte{1, 2, 3}}
	if err := s.CreateFirmware(t.Context(), nf); err != nil {
		t.Fatal(err)
	}
	if nf.ID != 4 {
		t.Errorf("a new image after 0022 has id %d, want 4 (3 belonged to a deleted image)", nf.ID)
	}
}
