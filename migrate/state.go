package migrate

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// state is the progress of a copy, saved after every batch. Losing the
// last save costs nothing but time: every write to the target is
// idempotent, so a batch stored again is skipped.
type state struct {
	path string

	Target  string `json:"target"`
	Started bool   `json:"started"`
	// Done holds the tables copied completely.
	Done map[string]bool `json:"done"`
	// Copied holds the rows copied per table (readings: all devices).
	Copied map[string]int64 `json:"copied"`
	// WaveformAfter is the last waveform id stored.
	WaveformAfter int64 `json:"waveform_after"`
	// FirmwareAfter is the last firmware image id stored.
	FirmwareAfter int64 `json:"firmware_after"`
	// ReadingsAfter is the last seq stored per device id; ReadingsDone the
	// devices whose readings are all copied.
	ReadingsAfter map[string]int64 `json:"readings_after"`
	ReadingsDone  map[string]bool  `json:"readings_done"`
	// RollupsAfter is the last bucket (Unix ms) of pruned rollups stored
	// per "device/table"; RollupsDone the devices whose pruned rollups are
	// all copied.
	RollupsAfter map[string]int64 `json:"rollups_after"`
	RollupsDone  map[string]bool  `json:"rollups_done"`
}

// loadState reads the state at path when it records a copy into target,
// and otherwise starts a new one.
func loadState(path, target string) (*state, error) {
	fresh := &state{path: path, Target: target, Done: map[string]bool{}, Copied: map[string]int64{},
		ReadingsAfter: map[string]int64{}, ReadingsDone: map[string]bool{},
		RollupsAfter: map[string]int64{}, RollupsDone: map[string]bool{}}
	if path == "" {
		return fresh, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return fresh, nil
	} else if err != nil {
		return nil, fmt.Errorf("read migration state: %w", err)
	}
	var st state
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("read migration state %s (delete it to start over): %w", path, err)
	}
	if st.Target != target {
		return fresh, nil
	}
	st.path = path
	if st.Done == nil {
		st.Done = map[string]bool{}
	}
	if st.Copied == nil {
		st.Copied = map[string]int64{}
	}
	if st.ReadingsAfter == nil {
		st.ReadingsAfter = map[string]int64{}
	}
	if st.ReadingsDone == nil {
		st.ReadingsDone = map[string]bool{}
	}
	if st.RollupsAfter == nil {
		st.RollupsAfter = map[string]int64{}
	}
	if st.RollupsDone == nil {
		st.RollupsDone = map[string]bool{}
	}
	return &st, nil
}

// save writes the state by renaming a new file over the old one, so a crash
// leaves either the old or the new state.
func (s *state) save() error {
	if s.path == "" {
		return nil
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("save migration state: %w", err)
	}
	tmp := filepath.Join(filepath.Dir(s.path), "."+filepath.Base(s.path)+".tmp")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("save migration state: %w", err)
	}
	if err := os.Rename(tmp, s.path); err != nil {
		return fmt.Errorf("save migration state: %w", err)
	}
	return nil
}

func deviceKey(id int64) string { return strconv.FormatInt(id, 10) }
