package jobs

import (
	"context"
	"log/slog"
)

// quietInfo lowers River's own Info records (a line every few seconds about
// job counts, one per schema migration) to Debug: an operator's log at the
// default level keeps River's warnings and errors and our own messages.
type quietInfo struct{ h slog.Handler }

func riverLogger(l *slog.Logger) *slog.Logger { return slog.New(quietInfo{l.Handler()}) }

func lower(level slog.Level) slog.Level {
	if level == slog.LevelInfo {
		return slog.LevelDebug
	}
	return level
}

func (q quietInfo) Enabled(ctx context.Context, level slog.Level) bool {
	return q.h.Enabled(ctx, lower(level))
}

func (q quietInfo) Handle(ctx context.Context, r slog.Record) error {
	r.Level = lower(r.Level)
	return q.h.Handle(ctx, r)
}

func (q quietInfo) WithAttrs(as []slog.Attr) slog.Handler { return quietInfo{q.h.WithAttrs(as)} }
func (q quietInfo) WithGroup(name string) slog.Handler    { return quietInfo{q.h.WithGroup(name)} }
