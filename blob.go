package vibemon

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"sync"
)

// BlobStore keeps large immutable objects by key: firmware images in S3 or
// MinIO when VIBEMON_BLOB_URL is set (package s3).
type BlobStore interface {
	// Put stores data under key, replacing what was there.
	Put(ctx context.Context, key string, data []byte) error
	// Get returns the object; ENOTFOUND when there is none.
	Get(ctx context.Context, key string) ([]byte, error)
	// Ping checks that the storage answers and its bucket exists.
	Ping(ctx context.Context) error
}

// FirmwareBlobKey is where an image of the org is kept in a BlobStore: by
// its digest, so an upload that is repeated, or whose store write fails
// after the Put, finds the same object.
func FirmwareBlobKey(orgID int64, sha256 string) string {
	return "firmware/" + strconv.FormatInt(orgID, 10) + "/" + sha256 + ".bin"
}

// BlobFirmwareStore is a Store whose firmware images keep their bytes in a
// BlobStore: CreateFirmware puts them there first and stores the rest as
// External; GetFirmware with data reads them back (images stored before
// the BlobStore was configured still come from the store). Images are
// immutable, so a few recent ones are kept in memory: an OTA rollout has
// every gateway download the same image, in ranges.
type BlobFirmwareStore struct {
	Store
	blobs BlobStore

	mu     sync.Mutex
	cache  map[string][]byte // by key
	order  []string          // keys, oldest first
	cached int               // bytes in cache
}

// blobCacheBytes bounds the images BlobFirmwareStore keeps in memory.
const blobCacheBytes = 32 << 20

// NewBlobFirmwareStore wraps s.
func NewBlobFirmwareStore(s Store, b BlobStore) *BlobFirmwareStore {
	return &BlobFirmwareStore{Store: s, blobs: b, cache: map[string][]byte{}}
}

// CreateFirmware validates f, puts its bytes into the BlobStore and stores
// the rest. f.Data is left as it was given.
func (s *BlobFirmwareStore) CreateFirmware(ctx context.Context, f *FirmwareImage) error {
	f.External = false
	if err := f.Prepare(); err != nil {
		return err
	}
	if err := s.blobs.Put(ctx, FirmwareBlobKey(f.OrgID, f.SHA256), f.Data); err != nil {
		return Errorf(EUNAVAILABLE, "The firmware storage did not take the image (%v); try again.", err)
	}
	data := f.Data
	f.Data, f.External = nil, true
	err := s.Store.CreateFirmware(ctx, f)
	f.Data = data
	return err
}

// GetFirmware returns one image; with its bytes from the BlobStore when it
// is External.
func (s *BlobFirmwareStore) GetFirmware(ctx context.Context, orgID, id int64, withData bool) (*FirmwareImage, error) {
	f, err := s.Store.GetFirmware(ctx, orgID, id, withData)
	if err != nil || !withData || !f.External {
		return f, err
	}
	key := FirmwareBlobKey(f.OrgID, f.SHA256)
	s.mu.Lock()
	data, ok := s.cache[key]
	s.mu.Unlock()
	if !ok {
		if data, err = s.blobs.Get(ctx, key); err != nil {
			if ErrorCode(err) == ENOTFOUND {
				return nil, Errorf(EINTERNAL, "firmware image %d (%s) is missing from the firmware storage", id, key)
			}
			return nil, Errorf(EUNAVAILABLE, "The firmware storage did not answer (%v); try again.", err)
		}
		if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != f.SHA256 {
			return nil, Errorf(EINTERNAL, "firmware image %d in the firmware storage (%s, %d bytes) does not match its SHA-256", id, key, len(data))
		}
		s.remember(key, data)
	}
	f.Data = data
	return f, nil
}

func (s *BlobFirmwareStore) remember(key string, data []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.cache[key]; ok || len(data) > blobCacheBytes {
		return
	}
	for s.cached+len(data) > blobCacheBytes && len(s.order) > 0 {
		old := s.order[0]
		s.order = s.order[1:]
		s.cached -= len(s.cache[old])
		delete(s.cache, old)
	}
	s.cache[key] = data
	s.order = append(s.order, key)
	s.cached += len(data)
}
