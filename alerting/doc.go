// Package alerting evaluates alert rules against new readings and opens,
// updates and resolves alerts in the store.
//
// A rule fires for a device when a reading breaches its threshold and clears
// when a later reading is back past its clear level (hysteresis). There is
// at most one unresolved alert per (rule, device): repeated breaches update
// it, never duplicate it.
package alerting
