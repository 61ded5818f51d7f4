// Package presencetest is the specification every vibemon.Presence
// implementation (in-process and Redis) is tested against, as bustest is
// for buses: one suite, so the implementations cannot drift apart.
package presencetest
