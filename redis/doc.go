// Package redis implements VibeMon's live bus, device presence and rate
// limiter on Redis: the cluster scale, where several vibemon replicas share
// one Redis so that a reading ingested on one replica reaches a WebSocket
// client on another, presence is one view for the cluster, and a login limit
// holds across replicas. The embedded scale uses package inproc for the same
// interfaces. docs/redis.md lists the keys, the failure behaviour and the
// measured throughput.
package redis
