// Package inproc implements VibeMon's pub/sub bus, device presence and rate
// limiter inside one process: the embedded scale, where a single vibemon
// binary runs every role. The cluster scale uses the redis package for the
// same interfaces.
package inproc
