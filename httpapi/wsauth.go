package httpapi

import (
	"context"
	"log/slog"
	"time"

	"github.com/vibemon/vibemon"
)

// VerifyAPIKey returns the API-key check for the WebSocket hub
// (ws.Config.VerifyKey), the same one the HTTP API applies to
// "Authorization: Bearer vmk_...": the key must exist and not be revoked
// (EUNAUTHORIZED otherwise), its role must be able to read (EFORBIDDEN),
// and its use is recorded at most once a minute. now and log may be nil.
func VerifyAPIKey(store vibemon.APIKeyStore, now func() time.Time, log *slog.Logger) func(ctx context.Context, key string) (orgID, keyID int64, err error) {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return func(ctx context.Context, key string) (int64, int64, error) {
		k, err := lookupAPIKey(ctx, store, now, log, key)
		if err != nil {
			return 0, 0, err
		}
		if !k.Role.Can(vibemon.ActRead) {
			return 0, 0, vibemon.Errorf(vibemon.EFORBIDDEN, "The role %s may not read.", k.Role)
		}
		return k.OrgID, k.ID, nil
	}
}

// lookupAPIKey looks the bearer key up and records its use (at most once
// per apiKeyTouchEvery).
func lookupAPIKey(ctx context.Context, store vibemon.APIKeyStore, now func() time.Time, log *slog.Logger, key string) (*vibemon.APIKey, error) {
	k, err := store.APIKeyByHash(ctx, vibemon.HashAPIKey(key))
	if vibemon.ErrorCode(err) == vibemon.EUNAUTHORIZED {
		return nil, vibemon.Errorf(vibemon.EUNAUTHORIZED, "The API key is unknown or revoked.")
	} else if err != nil {
		return nil, err
	}
	at := now().UTC()
	if k.LastUsedAt == nil || at.Sub(*k.LastUsedAt) >= apiKeyTouchEvery {
		if err := store.TouchAPIKey(ctx, k.ID, at); err != nil {
			log.WarnContext(ctx, "record api key use", "key_id", k.ID, "err", err)
		}
	}
	return k, nil
}
