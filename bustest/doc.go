// Package bustest is the conformance suite every vibemon.Bus implementation
// must pass: inproc.Bus here, redis.Bus against a real Redis. Call Run from
// the implementation's tests.
package bustest
