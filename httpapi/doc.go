// Package httpapi serves VibeMon's REST API v1 (docs/api.md): NewServer
// returns one http.Handler with every route listed in routes.go, the
// middleware (recover, logging, Prometheus metrics, bearer authentication,
// role checks), JSON encoding and decoding helpers, and the one table that
// maps vibemon error codes to HTTP statuses.
//
// The ingest pipeline, the live WebSocket hub and the web panel are other
// packages'; they are passed in through Config.
package httpapi
