// Package storetest is the conformance suite of vibemon.Store: every
// implementation (sqlite, postgres) runs Run and must pass all of it.
package storetest
