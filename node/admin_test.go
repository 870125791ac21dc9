package node_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/tangled-ledger/tangled/node"
)

func request(t *testing.T, method, url, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(data)
}

// TestAdminEndpoints: the profiler and the log level are served on the
// admin address only; the public listener answers its JSON not_found.
func TestAdminEndpoints(t *testing.T) {
	level := new(slog.LevelVar)
	var logs bytes.Buffer
	logger, err := node.NewLogger(&logs, node.LogJSON, level)
	if err != nil {
		t.Fatal(err)
	}
	r := start(t, node.Config{DataDir: t.TempDir(), AdminAddr: "127.0.0.1:0", Logger: logger, LogLevel: level})
	admin, public := "http://"+r.n.AdminAddr(), "http://"+r.n.HTTPAddr()
	if r.n.AdminAddr() == "" || r.n.AdminAddr() == r.n.HTTPAddr() {
		t.Fatalf("admin address %q beside the API's %q", r.n.AdminAddr(), r.n.HTTPAddr())
	}

	for _, path := range []string{"/debug/pprof/", "/debug/pprof/heap", "/debug/pprof/goroutine?debug=1", "/debug/pprof/cmdline", "/debug/log-level"} {
		if status, body := request(t, http.MethodGet, public+path, ""); status != http.StatusNotFound || !strings.Contains(body, `"not_found"`) {
			t.Errorf("public GET %s: %d %.80s; want the API's 404 not_found", path, status, body)
		}
		if status, body := request(t, http.MethodGet, admin+path, ""); status != http.StatusOK {
			t.Errorf("admin GET %s: %d %.80s", path, status, body)
		}
	}
	if status, body := request(t, http.MethodGet, admin+"/debug/pprof/", ""); !strings.Contains(body, "goroutine") {
		t.Errorf("pprof index: %d %.200s", status, body)
	}

	cases := []struct {
		name, body string
		status     int
		level      slog.Level
	}{
		{"to debug", `{"level":"debug"}`, 200, slog.LevelDebug},
		{"to warn, upper case", `{"level":"WARN"}`, 200, slog.LevelWarn},
		{"unknown level", `{"level":"loud"}`, 400, slog.LevelWarn},
		{"numeric offset", `{"level":"info+2"}`, 400, slog.LevelWarn},
		{"unknown field", `{"level":"info","x":1}`, 400, slog.LevelWarn},
		{"not json", `debug`, 400, slog.LevelWarn},
		{"back to info", `{"level":"info"}`, 200, slog.LevelInfo},
	}
	for _, c := range cases {
		status, body := request(t, http.MethodPut, admin+"/debug/log-level", c.body)
		if status != c.status || level.Level() != c.level {
			t.Errorf("%s: %d %s, level %v; want %d and %v", c.name, status, body, level.Level(), c.status, c.level)
		}
	}
	status, body := request(t, http.MethodGet, admin+"/debug/log-level", "")
	var got struct{ Level string }
	if err := json.Unmarshal([]byte(body), &got); status != 200 || err != nil || got.Level != "INFO" {
		t.Errorf("GET /debug/log-level: %d %s", status, body)
	}
	if !logger.Enabled(context.Background(), slog.LevelInfo) || logger.Enabled(context.Background(), slog.LevelDebug) {
		t.Error("the logger does not follow the level")
	}
	if !strings.Contains(logs.String(), `"msg":"log level changed"`) {
		t.Errorf("no log line for the change:\n%s", logs.String())
	}
}

// TestAdminOffByDefault: without AdminAddr there is no admin listener, and
// the public one still serves no profiles.
func TestAdminOffByDefault(t *testing.T) {
	r := start(t, node.Config{DataDir: t.TempDir()})
	if addr := r.n.AdminAddr(); addr != "" {
		t.Fatalf("AdminAddr() = %q with no admin address configured", addr)
	}
	if status, _ := request(t, http.MethodGet, "http://"+r.n.HTTPAddr()+"/debug/pprof/", ""); status != http.StatusNotFound {
		t.Errorf("public /debug/pprof/: %d, want 404", status)
	}
}
