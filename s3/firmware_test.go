package s3_test

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vibemon/vibemon"
	"github.com/vibemon/vibemon/s3test"
	"github.com/vibemon/vibemon/sqlite"
)

// TestFirmwareImagesInTheBucket: with a BlobStore, an uploaded image's
// bytes go to the bucket and the database keeps the rest; downloads read
// them back (checked against the digest), images stored in the database
// before still download, and a storage outage refuses an upload without
// storing half of it.
func TestFirmwareImagesInTheBucket(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "vibemon.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	org := &vibemon.Org{Name: "plant"}
	if err := db.CreateOrg(ctx, org); err != nil {
		t.Fatal(err)
	}
	sig := strings.Repeat("ab", 64)
	old := &vibemon.FirmwareImage{OrgID: org.ID, Version: "1.0.0", Hardware: "esp32c3", Signature: sig, Data: []byte("image stored in the database")}
	if err := db.CreateFirmware(ctx, old); err != nil {
		t.Fatal(err)
	}

	srv := s3test.Start(t, "firmware")
	blobs := open(t, srv, "firmware", "")
	s := vibemon.NewBlobFirmwareStore(db, blobs)
	img := bytes.Repeat([]byte{0xE9, 7, 7, 1}, 100_000)
	f := &vibemon.FirmwareImage{OrgID: org.ID, Version: "1.1.0", Hardware: "esp32c3", Signature: sig, Data: img}
	if err := s.CreateFirmware(ctx, f); err != nil {
		t.Fatal(err)
	}
	key := vibemon.FirmwareBlobKey(org.ID, f.SHA256)
	if obj, err := srv.Backend.HeadObject("firmware", key); err != nil || obj.Size != int64(len(img)) {
		t.Fatalf("the bucket holds no %d-byte object %s: %v", len(img), key, err)
	}
	row, err := db.GetFirmware(ctx, org.ID, f.ID, true)
	if err != nil || !row.External || len(row.Data) != 0 {
		t.Fatalf("the database row: %+v, %v; want External without data", row, err)
	}
	got, err := s.GetFirmware(ctx, org.ID, f.ID, true)
	if err != nil || !bytes.Equal(got.Data, img) {
		t.Fatalf("download: %d bytes, %v; want the %d uploaded", len(got.Data), err, len(img))
	}
	if got, err := s.GetFirmware(ctx, org.ID, old.ID, true); err != nil || string(got.Data) != "image stored in the database" {
		t.Fatalf("the image stored before the bucket: %q, %v", got.Data, err)
	}

	// The bucket's object changed behind VibeMon's back: a replica that has
	// not cached it refuses it; one that has keeps serving the verified copy.
	if err := blobs.Put(ctx, key, img[:1000]); err != nil {
		t.Fatal(err)
	}
	other := vibemon.NewBlobFirmwareStore(db, blobs)
	if _, err := other.GetFirmware(ctx, org.ID, f.ID, true); vibemon.ErrorCode(err) != vibemon.EINTERNAL || !strings.Contains(err.Error(), "does not match") {
		t.Errorf("download of a changed object: %v; want an internal error naming the mismatch", err)
	}
	if got, err := s.GetFirmware(ctx, org.ID, f.ID, true); err != nil || !bytes.Equal(got.Data, img) {
		t.Errorf("cached download after the change: %d bytes, %v", len(got.Data), err)
	}
	if _, err := srv.Backend.DeleteObject("firmware", key); err != nil {
		t.Fatal(err)
	}
	if _, err := other.GetFirmware(ctx, org.ID, f.ID, true); vibemon.ErrorCode(err) != vibemon.EINTERNAL || !strings.Contains(err.Error(), "missing") {
		t.Errorf("download of a deleted object: %v; want an internal error saying it is missing", err)
	}

	srv.Close()
	next := &vibemon.FirmwareImage{OrgID: org.ID, Version: "1.2.0", Hardware: "esp32c3", Signature: sig, Data: []byte{1, 2, 3}}
	if err := s.CreateFirmware(ctx, next); vibemon.ErrorCode(err) != vibemon.EUNAVAILABLE {
		t.Errorf("upload with the storage down: %v; want unavailable", err)
	}
	if list, _ := db.ListFirmware(ctx, org.ID); len(list) != 2 {
		t.Errorf("%d images stored after the refused upload, want 2", len(list))
	}
}
