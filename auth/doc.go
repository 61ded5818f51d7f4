// Package auth holds VibeMon's credentials: argon2id password hashes in the
// PHC string format, short-lived HS256 access tokens (JWT) and opaque,
// rotating refresh tokens of which only the SHA-256 is stored.
//
// The HTTP API (httpapi) and the WebSocket hub (ws) both authenticate a
// request with Issuer.Verify; it is kept small on purpose.
package auth
