package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/urfave/cli/v2"

	"github.com/tangled-ledger/tangled/node"
)

// clearEnv unsets every TANGLED_* variable of the node settings for the
// test, so the machine's environment cannot leak in.
func clearEnv(t *testing.T) {
	t.Helper()
	for _, s := range append(nodeSettings, nodeSetting{name: "config"}) {
		t.Setenv(s.envName(), "") // restored after the test
		os.Unsetenv(s.envName())
	}
}

// loadWith runs the node command's flags over args with env set and an
// optional configuration file, and returns what the node would run with.
func loadWith(t *testing.T, args []string, env map[string]string, file string) (nodeOptions, []resolvedSetting, error) {
	t.Helper()
	clearEnv(t)
	for k, v := range env {
		t.Setenv(k, v)
	}
	if file != "" {
		path := filepath.Join(t.TempDir(), "node.toml")
		if err := os.WriteFile(path, []byte(file), 0o644); err != nil {
			t.Fatal(err)
		}
		args = append([]string{"--config", path}, args...)
	}
	var opts nodeOptions
	var resolved []resolvedSetting
	var loadErr error
	app := &cli.App{
		Name:           "tangled",
		Writer:         &bytes.Buffer{},
		ErrWriter:      &bytes.Buffer{},
		ExitErrHandler: func(*cli.Context, error) {},
		Commands: []*cli.Command{{
			Name:  "node",
			Flags: nodeCommand().Flags,
			Action: func(c *cli.Context) error {
				opts, resolved, _, loadErr = loadNodeOptions(c)
				return nil
			},
		}},
	}
	if err := app.Run(append([]string{"tangled", "node"}, args...)); err != nil {
		return opts, nil, err
	}
	return opts, resolved, loadErr
}

func sourceOf(resolved []resolvedSetting, name string) string {
	for _, r := range resolved {
		if r.name == name {
			return r.source
		}
	}
	return "missing"
}

// flagArgs are the command-line arguments that give s the value v.
func flagArgs(s nodeSetting, v string) []string {
	if s.kind != kindStrings {
		return []string{"--" + s.name, v}
	}
	var args []string
	for _, item := range strings.Split(v, ",") {
		args = append(args, "--"+s.name, item)
	}
	return args
}

// fileLine is the configuration file line that gives s the value v.
func fileLine(t *testing.T, s nodeSetting, v string) string {
	t.Helper()
	var val any = v
	if s.kind == kindStrings {
		val = strings.Split(v, ",")
	}
	text, err := tomlValue(val)
	if err != nil {
		t.Fatal(err)
	}
	return s.name + " = " + text + "\n"
}

// TestSettingsAgree: for every flag of the node command, giving its
// example value by configuration file, by environment variable or by
// flag yields the same node options, different from the defaults, and
// config print names the right origin. A new flag without a settings
// entry (and so without a file key and a variable) fails here.
func TestSettingsAgree(t *testing.T) {
	defaults, _, err := loadWith(t, nil, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range nodeCommand().Flags {
		name := f.Names()[0]
		if name == "config" {
			continue
		}
		t.Run(name, func(t *testing.T) {
			s, ok := settingByName(name)
			if !ok {
				t.Fatalf("flag --%s has no entry in nodeSettings, so no configuration file key or TANGLED_ variable", name)
			}
			if s.example == "" || s.example == s.def {
				t.Fatalf("setting %s needs an example value other than its default", name)
			}
			ways := []struct {
				source string
				args   []string
				env    map[string]string
				file   string
			}{
				{sourceFile, nil, nil, fileLine(t, s, s.example)},
				{sourceEnv, nil, map[string]string{s.envName(): s.example}, ""},
				{sourceFlag, flagArgs(s, s.example), nil, ""},
			}
			var first nodeOptions
			for i, w := range ways {
				got, resolved, err := loadWith(t, w.args, w.env, w.file)
				if err != nil {
					t.Fatalf("by %s: %v", w.source, err)
				}
				if src := sourceOf(resolved, name); src != w.source {
					t.Errorf("by %s: origin %s", w.source, src)
				}
				if i == 0 {
					first = got
					if diff := cmp.Diff(defaults, got); diff == "" {
						t.Errorf("by %s: %s = %q changes nothing in the node's options", w.source, name, s.example)
					}
					continue
				}
				if diff := cmp.Diff(first, got); diff != "" {
					t.Errorf("by %s and by file disagree (-file +%s):\n%s", w.source, w.source, diff)
				}
			}
		})
	}
}

// TestSettingsPrecedence: flag > env > file > default, key by key.
func TestSettingsPrecedence(t *testing.T) {
	file := "http = \"127.0.0.1:1001\"\npeer = [\"file:1\"]\nbeacon-interval = \"1s\"\nlog-level = \"warn\"\n"
	env := map[string]string{"TANGLED_HTTP": "127.0.0.1:1002", "TANGLED_PEER": "env:1, env:2", "TANGLED_LOG_LEVEL": "error"}
	args := []string{"--http", "127.0.0.1:1003"}
	got, resolved, err := loadWith(t, args, env, file)
	if err != nil {
		t.Fatal(err)
	}
	want := struct {
		HTTP, Level string
		Peers       []string
		Beacon      string
		Sources     map[string]string
	}{
		HTTP: "127.0.0.1:1003", Level: "error", Peers: []string{"env:1", "env:2"}, Beacon: "1s",
		Sources: map[string]string{"http": sourceFlag, "peer": sourceEnv, "log-level": sourceEnv, "beacon-interval": sourceFile, "data-dir": sourceDefault},
	}
	gotView := want
	gotView.HTTP, gotView.Level, gotView.Peers, gotView.Beacon = got.Config.HTTPAddr, got.LogLevel, got.Config.Peers, got.Config.BeaconInterval.String()
	gotView.Sources = map[string]string{}
	for k := range want.Sources {
		gotView.Sources[k] = sourceOf(resolved, k)
	}
	if diff := cmp.Diff(want, gotView); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	// An empty variable is a value: TANGLED_P2P="" turns peering off even
	// when the file sets an address.
	got, _, err = loadWith(t, nil, map[string]string{"TANGLED_P2P": ""}, "p2p = \"127.0.0.1:7000\"\n")
	if err != nil || got.Config.P2PAddr != "" {
		t.Fatalf("TANGLED_P2P=\"\" over the file: %q, %v", got.Config.P2PAddr, err)
	}
}

// TestConfigFileErrors: a typo or a wrong type in the file is an error
// naming the key, never silently ignored; so is a bad variable.
func TestConfigFileErrors(t *testing.T) {
	cases := []struct {
		name string
		file string
		env  map[string]string
		want []string
	}{
		{"misspelt key", "htpp = \"127.0.0.1:1\"\n", nil, []string{`unknown key "htpp"`, `did you mean "http"?`}},
		{"unknown key", "colour = \"blue\"\n", nil, []string{`unknown key "colour"`, "data-dir, http"}},
		{"a table", "[api]\nrate = 1\n", nil, []string{`unknown key "api"`}},
		{"number for a string", "http = 8080\n", nil, []string{`key "http"`, "want a string, got an integer"}},
		{"string for a list", "peer = \"10.0.0.1:7070\"\n", nil, []string{`key "peer"`, "want an array of strings, got a string"}},
		{"number in a list", "allow-peer = [1]\n", nil, []string{`key "allow-peer"`, "an element of type an integer"}},
		{"bad duration", "beacon-interval = \"fast\"\n", nil, []string{`key "beacon-interval"`, "fast"}},
		{"duration as number", "beacon-interval = 100\n", nil, []string{`key "beacon-interval"`, "duration string"}},
		{"not TOML", "http = \n", nil, []string{"node.toml"}},
		{"bad log level", "log-level = \"loud\"\n", nil, []string{"--log-level", "loud"}},
		{"bad log format", "log-format = \"xml\"\n", nil, []string{"--log-format", "xml"}},
		{"bad variable", "", map[string]string{"TANGLED_BEACON_INTERVAL": "soon"}, []string{"TANGLED_BEACON_INTERVAL", "soon"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := loadWith(t, nil, c.env, c.file)
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
	t.Run("missing file", func(t *testing.T) {
		clearEnv(t)
		if _, err := run(t, "config", "print", "--config", filepath.Join(t.TempDir(), "none.toml")); err == nil || !strings.Contains(err.Error(), "none.toml") {
			t.Fatalf("missing file: %v", err)
		}
	})
}

// TestConfigPrint: config print shows each value with its origin, and its
// output is a configuration file that gives the same values back.
func TestConfigPrint(t *testing.T) {
	clearEnv(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "node.toml")
	if err := os.WriteFile(path, []byte("data-dir = \"/srv/tangled\"\nbeacon-interval = \"2s\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TANGLED_PEER", "10.0.0.2:7070,10.0.0.3:7070")
	t.Setenv("TANGLED_CONFIG", path)
	out, err := run(t, "config", "print", "--http", "0.0.0.0:8080")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{
		"# configuration file: " + path,
		`data-dir = "/srv/tangled"  # file ` + path,
		`http = "0.0.0.0:8080"  # flag --http`,
		`p2p = "` + node.DefaultP2PAddr + `"  # default`,
		`peer = ["10.0.0.2:7070", "10.0.0.3:7070"]  # env TANGLED_PEER`,
		`allow-peer = []  # default`,
		`beacon-interval = "2s"  # file ` + path,
		`log-level = "info"  # default`,
	} {
		if !strings.Contains(out, line+"\n") {
			t.Errorf("no line %q in:\n%s", line, out)
		}
	}
	// Round trip: the printed configuration, read back as the only source.
	clearEnv(t)
	printed := filepath.Join(dir, "printed.toml")
	if err := os.WriteFile(printed, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	again, err := run(t, "config", "print", "--config", printed)
	if err != nil {
		t.Fatal(err)
	}
	strip := func(s string) []string {
		var vals []string
		for _, l := range strings.Split(s, "\n") {
			if v, _, ok := strings.Cut(l, "  # "); ok {
				vals = append(vals, v)
			}
		}
		return vals
	}
	if diff := cmp.Diff(strip(out), strip(again)); diff != "" {
		t.Errorf("printed configuration read back (-first +again):\n%s", diff)
	}
	if n := strings.Count(again, "# file "+printed); n != len(nodeSettings) {
		t.Errorf("%d of %d settings came from the printed file:\n%s", n, len(nodeSettings), again)
	}
}

func TestLogFormat(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	cases := []struct {
		format string
		w      any
		want   node.LogFormat
		ok     bool
	}{
		{"auto", &bytes.Buffer{}, node.LogJSON, true},
		{"auto", w, node.LogJSON, true}, // a pipe is no terminal
		{"text", w, node.LogText, true},
		{"json", &bytes.Buffer{}, node.LogJSON, true},
		{"yaml", &bytes.Buffer{}, "", false},
	}
	for _, c := range cases {
		got, err := logFormat(c.format, c.w.(interface{ Write([]byte) (int, error) }))
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("logFormat(%q, %T) = %q, %v; want %q", c.format, c.w, got, err, c.want)
		}
	}
}
