package node

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// LogFormat is how a node's log lines are written.
type LogFormat string

// The log formats. The CLI picks text when standard error is a terminal
// and JSON otherwise (for a log collector), unless told.
const (
	LogText LogFormat = "text"
	LogJSON LogFormat = "json"
)

// ParseLogLevel reads debug, info, warn or error (any case).
func ParseLogLevel(s string) (slog.Level, error) {
	var l slog.Level
	switch strings.ToLower(s) {
	case "debug", "info", "warn", "error":
		if err := l.UnmarshalText([]byte(s)); err != nil {
			return 0, err
		}
		return l, nil
	}
	return 0, fmt.Errorf("node: log level %q; want debug, info, warn or error", s)
}

// NewLogger returns a logger writing format to w at the level held by
// level, which may change while the node runs (the admin endpoint
// PUT /debug/log-level does).
func NewLogger(w io.Writer, format LogFormat, level *slog.LevelVar) (*slog.Logger, error) {
	opts := &slog.HandlerOptions{Level: level}
	switch format {
	case LogText:
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case LogJSON:
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("node: log format %q; want text or json", format)
}

// storageLogger is the node's logger for Badger: Badger's informational
// messages (table and compaction chatter) are noise for an operator, so
// they pass only when the node logs at debug level.
func storageLogger(l *slog.Logger) *slog.Logger {
	return slog.New(&floorHandler{Handler: l.Handler(), floor: slog.LevelWarn})
}

// floorHandler drops records below floor unless its handler enables
// debug logging.
type floorHandler struct {
	slog.Handler
	floor slog.Level
}

func (h *floorHandler) Enabled(ctx context.Context, l slog.Level) bool {
	if l < h.floor && !h.Handler.Enabled(ctx, slog.LevelDebug) {
		return false
	}
	return h.Handler.Enabled(ctx, l)
}

func (h *floorHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &floorHandler{Handler: h.Handler.WithAttrs(attrs), floor: h.floor}
}

func (h *floorHandler) WithGroup(name string) slog.Handler {
	return &floorHandler{Handler: h.Handler.WithGroup(name), floor: h.floor}
}
