package httpapi

import (
	"bytes"
	"errors"
	"io"
	"net/http"

	"github.com/vibemon/vibemon"
)

// settingsInput is the body of PUT /devices/{id}/settings: every field;
// one left out is 0 (unmanaged).
type settingsInput struct {
	IntervalS        int   `json:"interval_s"`
	RangeG           int   `json:"range_g"`
	SampleRateHz     int   `json:"sample_rate_hz"`
	Window           int   `json:"window"`
	TargetFirmwareID int64 `json:"target_firmware_id"`
	BurstEveryS      int   `json:"burst_every_s"`
	BurstFrames      int   `json:"burst_frames"`
}

// handleDeviceSettingsGet returns what the server wants the node to run;
// gateways poll it (server wins).
func handleDeviceSettingsGet(s *server) http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		id, err := pathID(r)
		if err != nil {
			return err
		}
		ds, err := s.store.GetDeviceSettings(r.Context(), claimsFrom(r.Context()).OrgID, id)
		if err != nil {
			return err
		}
		s.encode(w, r, http.StatusOK, ds)
		return nil
	})
}

// handleDeviceSettingsPut replaces the device's settings and target
// firmware.
func handleDeviceSettingsPut(s *server) http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		id, err := pathID(r)
		if err != nil {
			return err
		}
		in, err := decode[settingsInput](s, w, r)
		if err != nil {
			return err
		}
		ds := &vibemon.DeviceSettings{DeviceID: id, IntervalS: in.IntervalS, RangeG: in.RangeG, SampleRateHz: in.SampleRateHz,
			Window: in.Window, TargetFirmwareID: in.TargetFirmwareID, BurstEveryS: in.BurstEveryS, BurstFrames: in.BurstFrames}
		if err := s.store.PutDeviceSettings(r.Context(), claimsFrom(r.Context()).OrgID, ds); err != nil {
			return err
		}
		s.encode(w, r, http.StatusOK, ds)
		return nil
	})
}

// handleOTAStatusPost records a gateway's OTA progress report.
func handleOTAStatusPost(s *server) http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		id, err := pathID(r)
		if err != nil {
			return err
		}
		in, err := decode[vibemon.OTAStatus](s, w, r)
		if err != nil {
			return err
		}
		in.DeviceID = id
		if err := s.store.PutOTAStatus(r.Context(), claimsFrom(r.Context()).OrgID, &in); err != nil {
			return err
		}
		s.encode(w, r, http.StatusOK, in)
		return nil
	})
}

// handleOTAStatusGet returns the device's last reported OTA progress.
func handleOTAStatusGet(s *server) http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		id, err := pathID(r)
		if err != nil {
			return err
		}
		st, err := s.store.GetOTAStatus(r.Context(), claimsFrom(r.Context()).OrgID, id)
		if err != nil {
			return err
		}
		s.encode(w, r, http.StatusOK, st)
		return nil
	})
}

// handleFirmwareUpload stores an image: the body is the image itself
// (application/octet-stream), the query names version, hardware and the
// hex Ed25519 signature of its SHA-256 (and optional notes).
func handleFirmwareUpload(s *server) http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		q := r.URL.Query()
		data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, vibemon.MaxFirmwareBytes))
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return vibemon.Errorf(vibemon.ETOOLARGE, "The image is larger than %d bytes.", vibemon.MaxFirmwareBytes)
		}
		if err != nil {
			return invalidf("Could not read the image: %v.", err)
		}
		f := &vibemon.FirmwareImage{OrgID: claimsFrom(r.Context()).OrgID, Version: q.Get("version"), Hardware: q.Get("hardware"),
			Signature: q.Get("signature"), Notes: q.Get("notes"), Data: data}
		if err := s.store.CreateFirmware(r.Context(), f); err != nil {
			return err
		}
		s.encode(w, r, http.StatusCreated, f)
		return nil
	})
}

func handleFirmwareList(s *server) http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		fs, err := s.store.ListFirmware(r.Context(), claimsFrom(r.Context()).OrgID)
		if err != nil {
			return err
		}
		s.encode(w, r, http.StatusOK, items[*vibemon.FirmwareImage]{Items: fs})
		return nil
	})
}

func handleFirmwareGet(s *server) http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		id, err := pathID(r)
		if err != nil {
			return err
		}
		f, err := s.store.GetFirmware(r.Context(), claimsFrom(r.Context()).OrgID, id, false)
		if err != nil {
			return err
		}
		s.encode(w, r, http.StatusOK, f)
		return nil
	})
}

// handleFirmwareImage serves the image bytes with Range support (a
// gateway resumes a download cut short) and the digest as ETag (for
// If-Range) and in X-Image-SHA256.
func handleFirmwareImage(s *server) http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		id, err := pathID(r)
		if err != nil {
			return err
		}
		f, err := s.store.GetFirmware(r.Context(), claimsFrom(r.Context()).OrgID, id, true)
		if err != nil {
			return err
		}
		if f.External && len(f.Data) == 0 {
			// Stored by a server with VIBEMON_BLOB_URL; this one has none.
			return vibemon.Errorf(vibemon.EUNAVAILABLE, "The image's bytes are in the firmware storage (S3/MinIO), and this server has no VIBEMON_BLOB_URL: set it as on the server that stored the image.")
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("ETag", `"`+f.SHA256+`"`)
		w.Header().Set("X-Image-SHA256", f.SHA256)
		w.Header().Set("X-Image-Signature", f.Signature)
		w.Header().Set("X-Image-Version", f.Version)
		http.ServeContent(w, r, "", f.CreatedAt, bytes.NewReader(f.Data))
		return nil
	})
}
