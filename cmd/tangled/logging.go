package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"

	"golang.org/x/term"

	"github.com/tangled-ledger/tangled/node"
)

// logFormat turns --log-format into a format: auto is text when w is a
// terminal (a person reading) and JSON otherwise (a log collector).
func logFormat(format string, w io.Writer) (node.LogFormat, error) {
	switch format {
	case "text":
		return node.LogText, nil
	case "json":
		return node.LogJSON, nil
	case "auto":
		if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			return node.LogText, nil
		}
		return node.LogJSON, nil
	}
	return "", fmt.Errorf("log format %q; want auto, text or json", format)
}

// nodeLogger builds the node's logger on w from the resolved options. The
// level is a LevelVar, which the admin endpoint changes at run time.
func nodeLogger(opts nodeOptions, w io.Writer) (*slog.Logger, *slog.LevelVar, error) {
	level, err := node.ParseLogLevel(opts.LogLevel)
	if err != nil {
		return nil, nil, err
	}
	format, err := logFormat(opts.LogFormat, w)
	if err != nil {
		return nil, nil, err
	}
	lv := new(slog.LevelVar)
	lv.Set(level)
	logger, err := node.NewLogger(w, format, lv)
	if err != nil {
		return nil, nil, err
	}
	return logger, lv, nil
}
