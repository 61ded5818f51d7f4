package httpapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/vibemon/vibemon"
)

// WaveformSubmitter stores a burst and queues its analysis (jobs.Runner).
type WaveformSubmitter interface {
	// Submit stores w (setting its ID) as a burst of orgID's device
	// w.DeviceID and queues its analysis. ENOTFOUND when the device is not
	// the org's, EINVALID when w is not a valid burst.
	Submit(ctx context.Context, orgID int64, w *vibemon.Waveform) error
}

// HealthReporter sums up an asset's condition (analysis.Service).
type HealthReporter interface {
	// AssetHealth returns the JSON-encodable health of the asset;
	// ENOTFOUND when it is not the org's.
	AssetHealth(ctx context.Context, orgID, assetID int64) (any, error)
}

// HealthFunc adapts a function to HealthReporter.
type HealthFunc func(ctx context.Context, orgID, assetID int64) (any, error)

// AssetHealth calls f.
func (f HealthFunc) AssetHealth(ctx context.Context, orgID, assetID int64) (any, error) {
	return f(ctx, orgID, assetID)
}

// Waveform listing limits.
const (
	defaultWaveformLimit = 100
	maxWaveformLimit     = 1000
)

// waveformInput is the body of POST /devices/{id}/waveforms. Pointers tell
// a missing field from a zero.
type waveformInput struct {
	TS           *time.Time `json:"ts"`
	SampleRateHz *float64   `json:"sample_rate_hz"`
	ScaleG       *float64   `json:"scale_g"`
	Axes         *int       `json:"axes"`
	Data         *string    `json:"data"`
}

// waveformJSON is a burst's metadata as the API shows it.
type waveformJSON struct {
	ID             int64     `json:"id"`
	DeviceID       int64     `json:"device_id"`
	TS             time.Time `json:"ts"`
	SampleRateHz   float64   `json:"sample_rate_hz"`
	Axes           int       `json:"axes"`
	Samples        int       `json:"samples"`
	AnalysisStatus string    `json:"analysis_status"`
}

func waveformOut(w *vibemon.Waveform) waveformJSON {
	return waveformJSON{ID: w.ID, DeviceID: w.DeviceID, TS: w.TS.UTC(), SampleRateHz: w.SampleRateHz, Axes: w.Axes, Samples: w.Samples, AnalysisStatus: w.AnalysisStatus}
}

// toWaveform checks the input and decodes its samples.
func (in waveformInput) toWaveform(deviceID int64) (*vibemon.Waveform, error) {
	switch {
	case in.TS == nil:
		return nil, invalidf("ts is required.")
	case in.SampleRateHz == nil:
		return nil, invalidf("sample_rate_hz is required.")
	case in.ScaleG == nil:
		return nil, invalidf("scale_g is required (g per LSB).")
	case in.Axes == nil:
		return nil, invalidf("axes is required (1, 2 or 3).")
	case in.Data == nil:
		return nil, invalidf("data is required: base64 of little-endian int16 samples, interleaved by axis.")
	case *in.Axes < 1 || *in.Axes > 3:
		return nil, invalidf("axes must be 1, 2 or 3.")
	}
	maxBytes := 2 * *in.Axes * vibemon.MaxWaveformSamples
	if len(*in.Data) > base64.StdEncoding.EncodedLen(maxBytes) {
		return nil, vibemon.Errorf(vibemon.ETOOLARGE, "data holds more than %d samples per axis.", vibemon.MaxWaveformSamples)
	}
	raw, err := base64.StdEncoding.DecodeString(*in.Data)
	if err != nil {
		return nil, invalidf("data is not valid base64 (standard alphabet, padded).")
	}
	if len(raw)%(2**in.Axes) != 0 {
		return nil, invalidf("data holds %d bytes, not a whole number of %d-axis int16 samples.", len(raw), *in.Axes)
	}
	samples := vibemon.DecodeSamples(raw)
	return &vibemon.Waveform{
		DeviceID: deviceID, TS: in.TS.UTC(), SampleRateHz: *in.SampleRateHz, Axes: *in.Axes,
		Samples: len(samples) / *in.Axes, Scale: *in.ScaleG, Data: samples,
	}, nil
}

func handleWaveformCreate(s *server) http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		id, err := pathID(r)
		if err != nil {
			return err
		}
		org := claimsFrom(r.Context()).OrgID
		if _, err := s.store.GetDevice(r.Context(), org, id); err != nil {
			return err
		}
		in, err := decode[waveformInput](s, w, r)
		if err != nil {
			return err
		}
		wf, err := in.toWaveform(id)
		if err != nil {
			return err
		}
		if err := wf.Validate(s.now()); err != nil {
			return err
		}
		if s.waveforms == nil {
			return vibemon.Errorf(vibemon.EUNAVAILABLE, "Waveform analysis is not configured on this server.")
		}
		if err := s.waveforms.Submit(r.Context(), org, wf); err != nil {
			return err
		}
		wf.AnalysisStatus = vibemon.AnalysisPending
		s.encode(w, r, http.StatusCreated, waveformOut(wf))
		return nil
	})
}

func handleWaveformList(s *server) http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		id, err := pathID(r)
		if err != nil {
			return err
		}
		v := r.URL.Query()
		var from, to time.Time
		if _, err := queryTime(v, "from", &from); err != nil {
			return err
		}
		if _, err := queryTime(v, "to", &to); err != nil {
			return err
		}
		if from.IsZero() {
			from = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
		}
		if !to.IsZero() && !from.Before(to) {
			return invalidf("from must be before to.")
		}
		limit := defaultWaveformLimit
		if str := v.Get("limit"); str != "" {
			n, err := strconv.Atoi(str)
			if err != nil || n < 1 || n > maxWaveformLimit {
				return invalidf("limit must be an integer from 1 to %d, not %q.", maxWaveformLimit, str)
			}
			limit = n
		}
		ws, err := s.store.ListWaveforms(r.Context(), claimsFrom(r.Context()).OrgID, id, from, to, limit)
		if err != nil {
			return err
		}
		out := make([]waveformJSON, len(ws))
		for i, wf := range ws {
			out[i] = waveformOut(wf)
		}
		s.encode(w, r, http.StatusOK, list(out))
		return nil
	})
}

// deviceWaveform loads the {wid} burst of the {id} device; 404 unless both
// are the caller org's and belong together.
func (s *server) deviceWaveform(r *http.Request) (*vibemon.Waveform, error) {
	id, err := pathID(r)
	if err != nil {
		return nil, err
	}
	org := claimsFrom(r.Context()).OrgID
	if _, err := s.store.GetDevice(r.Context(), org, id); err != nil {
		return nil, err
	}
	wid, err := strconv.ParseInt(r.PathValue("wid"), 10, 64)
	if err != nil || wid <= 0 {
		return nil, invalidf("The waveform id in the path must be a positive integer, not %q.", r.PathValue("wid"))
	}
	wf, err := s.store.GetWaveform(r.Context(), org, wid)
	if err != nil {
		return nil, err
	}
	if wf.DeviceID != id {
		return nil, vibemon.Errorf(vibemon.ENOTFOUND, "Waveform not found.")
	}
	return wf, nil
}

func handleWaveformGet(s *server) http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		wf, err := s.deviceWaveform(r)
		if err != nil {
			return err
		}
		// The stored analysis document, with the burst's metadata on top.
		doc := map[string]any{}
		if wf.AnalysisStatus == vibemon.AnalysisFailed {
			// A failed analysis stores its message, not a document.
			doc["analysis_error"] = string(wf.Analysis)
		} else if len(wf.Analysis) > 0 {
			var stored map[string]json.RawMessage
			if err := json.Unmarshal(wf.Analysis, &stored); err != nil {
				s.log.WarnContext(r.Context(), "unreadable waveform analysis", "waveform", wf.ID, "err", err)
			}
			for k, v := range stored {
				doc[k] = v
			}
		}
		meta := waveformOut(wf)
		doc["id"], doc["device_id"], doc["ts"] = meta.ID, meta.DeviceID, meta.TS
		doc["sample_rate_hz"], doc["axes"], doc["samples"] = meta.SampleRateHz, meta.Axes, meta.Samples
		doc["analysis_status"], doc["scale_g"] = meta.AnalysisStatus, wf.Scale
		s.encode(w, r, http.StatusOK, doc)
		return nil
	})
}

func handleWaveformSamples(s *server) http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		wf, err := s.deviceWaveform(r)
		if err != nil {
			return err
		}
		raw := vibemon.EncodeSamples(wf.Data)
		s.encode(w, r, http.StatusOK, map[string]any{
			"id": wf.ID, "device_id": wf.DeviceID, "ts": wf.TS.UTC(),
			"sample_rate_hz": wf.SampleRateHz, "axes": wf.Axes, "samples": wf.Samples, "scale_g": wf.Scale,
			"data": base64.StdEncoding.EncodeToString(raw),
		})
		return nil
	})
}

func handleAssetHealth(s *server) http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		id, err := pathID(r)
		if err != nil {
			return err
		}
		org := claimsFrom(r.Context()).OrgID
		if _, err := s.store.GetAsset(r.Context(), org, id); err != nil {
			return err
		}
		if s.health == nil {
			return vibemon.Errorf(vibemon.EUNAVAILABLE, "Asset health is not configured on this server.")
		}
		h, err := s.health.AssetHealth(r.Context(), org, id)
		if err != nil {
			return err
		}
		s.encode(w, r, http.StatusOK, h)
		return nil
	})
}
