// Package lookup is a small in-process cache of hot lookups (a device by
// id, an API key by hash) with a time to live and explicit forgetting. It is
// the default vibemon.LookupCache of one process and the local layer of the
// Redis-backed cache shared by replicas (package redis), so it depends on
// no outside service.
package lookup
