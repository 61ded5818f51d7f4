package jobs

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

func TestRiverInfoIsDebugForOperators(t *testing.T) {
	var buf bytes.Buffer
	l := riverLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})))
	l.Info("producer: Producer job counts")
	l.Warn("job failed", "attempt", 2)
	out := buf.String()
	if strings.Contains(out, "Producer job counts") || !strings.Contains(out, "level=WARN msg=\"job failed\" attempt=2") {
		t.Errorf("log at info level:\n%s\nwant River's info hidden and its warning kept", out)
	}
	buf.Reset()
	l = riverLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	l.Info("producer: Producer job counts")
	if !strings.Contains(buf.String(), "level=DEBUG") {
		t.Errorf("log at debug level:\n%s\nwant River's info shown as debug", buf.String())
	}
}
