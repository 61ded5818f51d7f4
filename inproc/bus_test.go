package inproc_test

import (
	"testing"

	"github.com/vibemon/vibemon"
	"github.com/vibemon/vibemon/bustest"
	"github.com/vibemon/vibemon/inproc"
)

func TestBus(t *testing.T) {
	bustest.Run(t, func(t *testing.T) vibemon.Bus {
		b := inproc.NewBus(inproc.BusConfig{})
		t.Cleanup(func() { b.Close() })
		return b
	})
}
