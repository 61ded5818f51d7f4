package vibemon

import "context"

// Store is everything the server keeps. sqlite.Store and (later)
// postgres.Store implement it and pass the same conformance suite.
type Store interface {
	OrgStore
	UserStore
	SessionStore
	AssetStore
	DeviceStore
	ReadingStore
	RuleStore
	AlertStore
	WaveformStore
	ModelStore
	APIKeyStore
	CompletenessStore
	MaintenanceStore
	NotificationStore
	FirmwareStore
	// Ping returns an error when the store cannot serve requests.
	Ping(ctx context.Context) error
	// Close flushes and releases the store; safe to call twice.
	Close() error
}
