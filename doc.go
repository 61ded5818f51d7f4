// Package vibemon holds VibeMon's domain: organizations, users, assets
// (machines), sensor devices, readings, alert rules and alerts, the one
// application error type, and the small interfaces that storage, pub/sub and
// presence implementations satisfy.
//
// It imports only the standard library. Adapters (sqlite, inproc, httpapi,
// ws, ...) depend on it; it depends on none of them.
package vibemon
