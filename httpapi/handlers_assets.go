package httpapi

import (
	"context"
	"net/http"
	"slices"

	"github.com/vibemon/vibemon"
)

type assetInput struct {
	Name       *string             `json:"name"`
	Type       *string             `json:"type"`
	RPM        *float64            `json:"rpm"`
	ISOGroup   *int                `json:"iso_group"`
	Foundation *vibemon.Foundation `json:"foundation"`
	Bearing    *string             `json:"bearing"`
}

// apply sets the given fields on a and validates the result.
func (in assetInput) apply(a *vibemon.Asset) error {
	if in.Name != nil {
		a.Name = *in.Name
	}
	if in.Type != nil {
		a.Type = *in.Type
	}
	if in.RPM != nil {
		a.RPM = *in.RPM
	}
	if in.ISOGroup != nil {
		a.ISOGroup = *in.ISOGroup
	}
	if in.Foundation != nil {
		a.Foundation = *in.Foundation
	}
	if in.Bearing != nil {
		a.Bearing = *in.Bearing
	}
	return a.Validate()
}

func handleAssetList(s *server) http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		as, err := s.store.ListAssets(r.Context(), claimsFrom(r.Context()).OrgID)
		if err != nil {
			return err
		}
		s.encode(w, r, http.StatusOK, list(as))
		return nil
	})
}

func handleAssetCreate(s *server) http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		in, err := decode[assetInput](s, w, r)
		if err != nil {
			return err
		}
		a := &vibemon.Asset{OrgID: claimsFrom(r.Context()).OrgID}
		if err := in.apply(a); err != nil {
			return err
		}
		if err := s.store.CreateAsset(r.Context(), a); err != nil {
			return err
		}
		s.encode(w, r, http.StatusCreated, a)
		return nil
	})
}

func handleAssetGet(s *server) http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		id, err := pathID(r)
		if err != nil {
			return err
		}
		a, err := s.store.GetAsset(r.Context(), claimsFrom(r.Context()).OrgID, id)
		if err != nil {
			return err
		}
		s.encode(w, r, http.StatusOK, a)
		return nil
	})
}

func handleAssetPatch(s *server) http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		in, err := decode[assetInput](s, w, r)
		if err != nil {
			return err
		}
		id, err := pathID(r)
		if err != nil {
			return err
		}
		a, err := s.store.GetAsset(r.Context(), claimsFrom(r.Context()).OrgID, id)
		if err != nil {
			return err
		}
		if err := in.apply(a); err != nil {
			return err
		}
		if err := s.store.UpdateAsset(r.Context(), a); err != nil {
			return err
		}
		s.encode(w, r, http.StatusOK, a)
		return nil
	})
}

func handleAssetDelete(s *server) http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		id, err := pathID(r)
		if err != nil {
			return err
		}
		if err := s.store.DeleteAsset(r.Context(), claimsFrom(r.Context()).OrgID, id); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
}

func handleAssetDevices(s *server) http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		id, err := pathID(r)
		if err != nil {
			return err
		}
		org := claimsFrom(r.Context()).OrgID
		if _, err := s.store.GetAsset(r.Context(), org, id); err != nil {
			return err
		}
		ds, err := s.store.ListDevices(r.Context(), org)
		if err != nil {
			return err
		}
		ds = slices.DeleteFunc(ds, func(d *vibemon.Device) bool { return d.AssetID != id })
		s.encode(w, r, http.StatusOK, list(s.withOnline(r.Context(), org, ds...)))
		return nil
	})
}

// deviceJSON is a device as the API shows it, with its presence.
type deviceJSON struct {
	*vibemon.Device
	Online bool `json:"online"`
}

// withOnline adds presence to devices. When presence is down the devices
// show offline: stored data is still worth showing.
func (s *server) withOnline(ctx context.Context, orgID int64, ds ...*vibemon.Device) []deviceJSON {
	online := map[int64]bool{}
	if s.presence != nil {
		ids, err := s.presence.Online(ctx, orgID, s.now())
		if err != nil {
			s.log.WarnContext(ctx, "presence unavailable; devices show offline", "err", err)
		}
		for _, id := range ids {
			online[id] = true
		}
	}
	out := make([]deviceJSON, len(ds))
	for i, d := range ds {
		out[i] = deviceJSON{Device: d, Online: online[d.ID]}
	}
	return out
}

type deviceInput struct {
	Serial          *string `json:"serial"`
	Name            *string `json:"name"`
	AssetID         *int64  `json:"asset_id"`
	FirmwareVersion *string `json:"firmware_version"`
}

func (in deviceInput) apply(d *vibemon.Device) error {
	if in.Serial != nil {
		d.Serial = *in.Serial
	}
	if in.Name != nil {
		d.Name = *in.Name
	}
	if in.AssetID != nil {
		d.AssetID = *in.AssetID
	}
	if in.FirmwareVersion != nil {
		d.FirmwareVersion = *in.FirmwareVersion
	}
	return d.Validate()
}

func handleDeviceList(s *server) http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		org := claimsFrom(r.Context()).OrgID
		ds, err := s.store.ListDevices(r.Context(), org)
		if err != nil {
			return err
		}
		s.encode(w, r, http.StatusOK, list(s.withOnline(r.Context(), org, ds...)))
		return nil
	})
}

func handleDeviceCreate(s *server) http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		in, err := decode[deviceInput](s, w, r)
		if err != nil {
			return err
		}
		org := claimsFrom(r.Context()).OrgID
		d := &vibemon.Device{OrgID: org}
		if err := in.apply(d); err != nil {
			return err
		}
		created, err := s.store.RegisterDevice(r.Context(), d)
		if err != nil {
			return err
		}
		status := http.StatusOK
		if created {
			status = http.StatusCreated
		}
		s.encode(w, r, status, s.withOnline(r.Context(), org, d)[0])
		return nil
	})
}

func handleDeviceGet(s *server) http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		id, err := pathID(r)
		if err != nil {
			return err
		}
		org := claimsFrom(r.Context()).OrgID
		d, err := s.store.GetDevice(r.Context(), org, id)
		if err != nil {
			return err
		}
		s.encode(w, r, http.StatusOK, s.withOnline(r.Context(), org, d)[0])
		return nil
	})
}

func handleDevicePatch(s *server) http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		in, err := decode[deviceInput](s, w, r)
		if err != nil {
			return err
		}
		id, err := pathID(r)
		if err != nil {
			return err
		}
		org := claimsFrom(r.Context()).OrgID
		d, err := s.store.GetDevice(r.Context(), org, id)
		if err != nil {
			return err
		}
		if in.Serial != nil && *in.Serial != d.Serial {
			return vibemon.Errorf(vibemon.EINVALID, "serial cannot change; register a new device instead.")
		}
		if err := in.apply(d); err != nil {
			return err
		}
		if err := s.store.UpdateDevice(r.Context(), d); err != nil {
			return err
		}
		s.encode(w, r, http.StatusOK, s.withOnline(r.Context(), org, d)[0])
		return nil
	})
}

func handleDeviceDelete(s *server) http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		id, err := pathID(r)
		if err != nil {
			return err
		}
		if err := s.store.DeleteDevice(r.Context(), claimsFrom(r.Context()).OrgID, id); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
}
