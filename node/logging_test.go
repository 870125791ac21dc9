package node

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
)

func TestParseLogLevel(t *testing.T) {
	cases := []struct {
		in   string
		want slog.Level
		ok   bool
	}{
		{"debug", slog.LevelDebug, true},
		{"INFO", slog.LevelInfo, true},
		{"Warn", slog.LevelWarn, true},
		{"error", slog.LevelError, true},
		{"warning", 0, false},
		{"info+1", 0, false},
		{"", 0, false},
	}
	for _, c := range cases {
		got, err := ParseLogLevel(c.in)
		if (err == nil) != c.ok || (c.ok && got != c.want) {
			t.Errorf("ParseLogLevel(%q) = %v, %v; want %v, ok %v", c.in, got, err, c.want, c.ok)
		}
	}
}

func TestNewLoggerFormats(t *testing.T) {
	for _, c := range []struct {
		format LogFormat
		want   string
	}{
		{LogText, "level=INFO msg=hello"},
		{LogJSON, `"level":"INFO","msg":"hello"`},
	} {
		var buf bytes.Buffer
		l, err := NewLogger(&buf, c.format, new(slog.LevelVar))
		if err != nil {
			t.Fatal(err)
		}
		l.Info("hello")
		if !strings.Contains(buf.String(), c.want) {
			t.Errorf("%s: %q, want %q in it", c.format, buf.String(), c.want)
		}
	}
	if _, err := NewLogger(&bytes.Buffer{}, "xml", nil); err == nil {
		t.Error("NewLogger accepted format xml")
	}
}

// TestStorageLoggerFloor: Badger's informational messages reach the log
// only at debug level; its warnings always do.
func TestStorageLoggerFloor(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		level      slog.Level
		info, warn bool
	}{
		{slog.LevelDebug, true, true},
		{slog.LevelInfo, false, true},
		{slog.LevelError, false, false},
	} {
		lv := new(slog.LevelVar)
		lv.Set(c.level)
		l, _ := NewLogger(&bytes.Buffer{}, LogText, lv)
		s := storageLogger(l).With("component", "badger")
		if got := s.Enabled(ctx, slog.LevelInfo); got != c.info {
			t.Errorf("node at %v: badger info enabled %v, want %v", c.level, got, c.info)
		}
		if got := s.Enabled(ctx, slog.LevelWarn); got != c.warn {
			t.Errorf("node at %v: badger warn enabled %v, want %v", c.level, got, c.warn)
		}
	}
}
