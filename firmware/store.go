package firmware

import "errors"

// ErrNotFound is returned by Store.Get for a key never Put.
var ErrNotFound = errors.New("firmware: key not found")

// Keys of the records the core persists. Ring slots use KeyRingSlot+i.
const (
	KeyNode     uint16 = 1 // sequence reservation, boot count
	KeyRingMeta uint16 = 2 // ring head, count, sent cursor, drop counters
	KeyOTA      uint16 = 3 // OTA transfer in progress
	KeyRingSlot uint16 = 0x1000
)

// Store keeps small records across deep sleep and power loss: RTC memory
// or an NVS/flash key-value area on the board, a map in the simulator.
type Store interface {
	// Get copies the record at key into dst and returns its length;
	// ErrNotFound when absent.
	Get(key uint16, dst []byte) (int, error)
	// Put replaces the record at key. It returns when the record is durable.
	Put(key uint16, val []byte) error
}

// MemStore is a Store in host memory, for tests and the simulator: keep
// the MemStore and build a new Node to simulate a power loss.
type MemStore struct {
	m      map[uint16][]byte
	Writes int // Put calls, to reason about flash wear
}

// NewMemStore returns an empty MemStore.
func NewMemStore() *MemStore { return &MemStore{m: map[uint16][]byte{}} }

// Get implements Store.
func (s *MemStore) Get(key uint16, dst []byte) (int, error) {
	v, ok := s.m[key]
	if !ok {
		return 0, ErrNotFound
	}
	return copy(dst, v), nil
}

// Put implements Store.
func (s *MemStore) Put(key uint16, val []byte) error {
	s.m[key] = append(s.m[key][:0], val...)
	s.Writes++
	return nil
}
