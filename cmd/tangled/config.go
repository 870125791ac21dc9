package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/urfave/cli/v2"

	"github.com/tangled-ledger/tangled/node"
)

// settingKind is a node setting's type in flags, environment and file.
type settingKind uint8

const (
	kindString   settingKind = iota + 1
	kindStrings              // repeatable flag; comma-separated in the environment; an array in the file
	kindDuration             // Go duration text ("100ms", "2s") everywhere
)

// nodeSetting is one key of a node's configuration. It is a flag of
// `tangled node` (--name), an environment variable (TANGLED_NAME, dashes
// as underscores) and a key of the configuration file (name), all from
// this one table, so the three cannot drift apart.
type nodeSetting struct {
	name  string
	kind  settingKind
	def   string // default as text; "" for none
	usage string
	// example is a valid value other than the default, for
	// docs/configuration.md and the test that flag, env and file agree.
	example string
}

// envName is the setting's environment variable.
func (s nodeSetting) envName() string {
	return "TANGLED_" + strings.ToUpper(strings.ReplaceAll(s.name, "-", "_"))
}

// The log settings' defaults.
const (
	defaultLogLevel  = "info"
	defaultLogFormat = "auto"
)

// nodeSettings are the node command's settings in the order they are
// printed; --config itself is not one (it says where the file is).
var nodeSettings = []nodeSetting{
	{name: "data-dir", kind: kindString, def: node.DefaultDataDir, usage: "data directory", example: "/var/lib/tangled"},
	{name: "http", kind: kindString, def: node.DefaultHTTPAddr, usage: "HTTP API listen address (also serves /metrics and the dashboard)", example: "0.0.0.0:8080"},
	{name: "p2p", kind: kindString, def: node.DefaultP2PAddr, usage: "QUIC peering listen address (UDP); empty turns peering off", example: "0.0.0.0:7070"},
	{name: "genesis", kind: kindString, usage: "genesis file (default: a development network in the data directory)", example: "/etc/tangled/genesis.json"},
	{name: "key", kind: kindString, usage: "node key file (default: the development validator key, or DATA_DIR/node.key)", example: "/etc/tangled/validator-1.key"},
	{name: "peer", kind: kindStrings, usage: "peer to keep connected: host:port, or KEY@host:port to pin its key (repeatable)", example: "10.0.0.2:7070,10.0.0.3:7070"},
	{name: "allow-peer", kind: kindStrings, usage: "public key (hex) allowed to connect besides the validators (repeatable)", example: strings.Repeat("ab", 32)},
	{name: "beacon-interval", kind: kindDuration, def: node.DefaultBeaconInterval.String(), usage: "how often a validator issues beacons while there is traffic", example: "250ms"},
	{name: "beacon-rule", kind: kindString, def: node.DefaultBeaconRule, usage: "how validators spend beacons: sweep (each sweeps the oldest tips every interval) or rounds (they take turns, as few per interval as confirmation needs)", example: "rounds"},
	{name: "ledger-memory", kind: kindString, def: "256MiB", usage: "memory for confirmed transactions, a size like 256MiB or 1GiB (older ones are read from the store; -1 keeps all in memory)", example: "1GiB"},
	{name: "disk-budget", kind: kindString, def: "0", usage: "bound the database directory to this size, like 8GiB (above 80% of it the oldest prunable confirmed transactions are pruned; 0: no budget)", example: "8GiB"},
	{name: "prune-after", kind: kindDuration, def: "0s", usage: "prune confirmed transactions issued longer ago than this, like 720h (0: only the disk budget prunes)", example: "720h0m0s"},
	{name: "admin", kind: kindString, usage: "admin listen address for /debug/pprof/ and /debug/log-level; off when empty (never make it public)", example: "127.0.0.1:6060"},
	{name: "log-level", kind: kindString, def: defaultLogLevel, usage: "debug, info, warn or error", example: "debug"},
	{name: "log-format", kind: kindString, def: defaultLogFormat, usage: "auto (text on a terminal, JSON otherwise), text or json", example: "json"},
}

func settingByName(name string) (nodeSetting, bool) {
	i := slices.IndexFunc(nodeSettings, func(s nodeSetting) bool { return s.name == name })
	if i < 0 {
		return nodeSetting{}, false
	}
	return nodeSettings[i], true
}

// configFlag names the configuration file.
var configFlag = &cli.StringFlag{Name: "config", EnvVars: env("CONFIG"), Usage: "configuration file (TOML; keys are the flag names; flags and TANGLED_* variables override it)"}

// nodeFlags are the node command's flags, built from nodeSettings. The
// environment is read by resolveSettings, not by the flags, so that it
// can tell a flag from a variable: each usage names its variable.
func nodeFlags() []cli.Flag {
	flags := []cli.Flag{configFlag}
	for _, s := range nodeSettings {
		usage := fmt.Sprintf("%s [$%s]", s.usage, s.envName())
		switch s.kind {
		case kindStrings:
			flags = append(flags, &cli.StringSliceFlag{Name: s.name, Usage: usage})
		case kindDuration:
			d, err := time.ParseDuration(s.def)
			if err != nil {
				panic("cmd/tangled: setting " + s.name + ": default " + s.def + " is not a duration")
			}
			flags = append(flags, &cli.DurationFlag{Name: s.name, Value: d, Usage: usage})
		default:
			flags = append(flags, &cli.StringFlag{Name: s.name, Value: s.def, Usage: usage})
		}
	}
	return flags
}

// Where a setting's value came from.
const (
	sourceDefault = "default"
	sourceFile    = "file"
	sourceEnv     = "env"
	sourceFlag    = "flag"
)

// resolvedSetting is a setting's effective value and its origin.
type resolvedSetting struct {
	nodeSetting
	source string
	// origin names it for people: "flag --http", "env TANGLED_HTTP",
	// "file node.toml".
	origin string
}

// resolveSettings applies the environment and the configuration file to
// c's flags where no flag was given: flag > env > file > default. It
// returns each setting's origin. A file key that is no setting, or a
// value of the wrong type, is an error naming the key.
func resolveSettings(c *cli.Context) ([]resolvedSetting, string, error) {
	path := c.String("config")
	file, err := readConfigFile(path)
	if err != nil {
		return nil, path, err
	}
	out := make([]resolvedSetting, 0, len(nodeSettings))
	for _, s := range nodeSettings {
		r := resolvedSetting{nodeSetting: s, source: sourceDefault, origin: sourceDefault}
		if c.IsSet(s.name) {
			r.source, r.origin = sourceFlag, "flag --"+s.name
		} else if v, ok := os.LookupEnv(s.envName()); ok {
			r.source, r.origin = sourceEnv, "env "+s.envName()
			if err := setFromText(c, s, v); err != nil {
				return nil, path, fmt.Errorf("%s: %w", s.envName(), err)
			}
		} else if v, ok := file[s.name]; ok {
			r.source, r.origin = sourceFile, "file "+path
			if err := setFromFile(c, s, v); err != nil {
				return nil, path, fmt.Errorf("config %s: key %q: %w", path, s.name, err)
			}
		}
		out = append(out, r)
	}
	return out, path, nil
}

// readConfigFile decodes a TOML configuration file; an empty path means
// none.
func readConfigFile(path string) (map[string]any, error) {
	if path == "" {
		return nil, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return parseConfig(path, data)
}

// parseConfig decodes a configuration file's bytes and refuses any key
// that is not a node setting.
func parseConfig(path string, data []byte) (map[string]any, error) {
	var file map[string]any
	if _, err := toml.Decode(string(data), &file); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	keys := make([]string, 0, len(file))
	for k := range file {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if _, ok := settingByName(k); !ok {
			return nil, fmt.Errorf("config %s: unknown key %q%s; the keys are the node flags' names: %s", path, k, suggest(k), settingNames())
		}
	}
	return file, nil
}

// suggest names the setting a misspelt key most likely meant.
func suggest(key string) string {
	best, bestDist := "", 3 // only close misspellings
	for _, s := range nodeSettings {
		if d := editDistance(key, s.name); d < bestDist {
			best, bestDist = s.name, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func settingNames() string {
	names := make([]string, len(nodeSettings))
	for i, s := range nodeSettings {
		names[i] = s.name
	}
	return strings.Join(names, ", ")
}

// setFromText sets a flag from an environment variable: lists are
// comma-separated, as urfave/cli reads them.
func setFromText(c *cli.Context, s nodeSetting, v string) error {
	if s.kind != kindStrings {
		return setValue(c, s, v)
	}
	for _, item := range strings.Split(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			if err := c.Set(s.name, item); err != nil {
				return err
			}
		}
	}
	return nil
}

// setFromFile sets a flag from a decoded TOML value, refusing the wrong
// type rather than guessing.
func setFromFile(c *cli.Context, s nodeSetting, v any) error {
	switch s.kind {
	case kindStrings:
		list, ok := v.([]any)
		if !ok {
			return fmt.Errorf("want an array of strings, got %s", tomlType(v))
		}
		for _, item := range list {
			str, ok := item.(string)
			if !ok {
				return fmt.Errorf("want an array of strings, got an element of type %s", tomlType(item))
			}
			if err := c.Set(s.name, str); err != nil {
				return err
			}
		}
		return nil
	default:
		str, ok := v.(string)
		if !ok {
			want := "a string"
			if s.kind == kindDuration {
				want = `a duration string such as "100ms"`
			}
			return fmt.Errorf("want %s, got %s", want, tomlType(v))
		}
		return setValue(c, s, str)
	}
}

// setValue sets one value, with a clearer message than the flag
// package's "parse error" for a bad duration.
func setValue(c *cli.Context, s nodeSetting, v string) error {
	if s.kind == kindDuration {
		if _, err := time.ParseDuration(v); err != nil {
			return fmt.Errorf("%q is not a duration (write it like 100ms, 2s or 1m)", v)
		}
	}
	return c.Set(s.name, v)
}

func tomlType(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	case map[string]any:
		return "a table"
	}
	return fmt.Sprintf("%T", v)
}

// nodeOptions is what the node command runs with: the node's
// configuration and how to log.
type nodeOptions struct {
	Config    node.Config
	LogLevel  string
	LogFormat string
}

// loadNodeOptions resolves the settings and reads them off c.
func loadNodeOptions(c *cli.Context) (nodeOptions, []resolvedSetting, string, error) {
	resolved, path, err := resolveSettings(c)
	if err != nil {
		return nodeOptions{}, nil, path, err
	}
	opts := nodeOptions{
		Config: node.Config{
			DataDir:        c.String("data-dir"),
			HTTPAddr:       c.String("http"),
			P2PAddr:        c.String("p2p"),
			GenesisFile:    c.String("genesis"),
			KeyFile:        c.String("key"),
			Peers:          c.StringSlice("peer"),
			AllowPeers:     c.StringSlice("allow-peer"),
			BeaconInterval: c.Duration("beacon-interval"),
			BeaconRule:     c.String("beacon-rule"),
			AdminAddr:      c.String("admin"),
		},
		LogLevel:  c.String("log-level"),
		LogFormat: c.String("log-format"),
	}
	ledgerMemory, err := parseByteSize(c.String("ledger-memory"))
	if err != nil {
		return opts, resolved, path, cli.Exit("--ledger-memory: "+err.Error(), 2)
	}
	opts.Config.LedgerMemory = ledgerMemory
	diskBudget, err := parseByteSize(c.String("disk-budget"))
	if err != nil {
		return opts, resolved, path, cli.Exit("--disk-budget: "+err.Error(), 2)
	}
	opts.Config.DiskBudget = max(diskBudget, 0) // -1, like 0: no budget
	opts.Config.PruneAfter = c.Duration("prune-after")
	if opts.Config.PruneAfter < 0 {
		return opts, resolved, path, cli.Exit("--prune-after: negative", 2)
	}
	if _, err := node.ParseLogLevel(opts.LogLevel); err != nil {
		return opts, resolved, path, cli.Exit("--log-level: "+err.Error(), 2)
	}
	if _, err := logFormat(opts.LogFormat, nil); err != nil {
		return opts, resolved, path, cli.Exit("--log-format: "+err.Error(), 2)
	}
	return opts, resolved, path, nil
}

func configCommand() *cli.Command {
	return &cli.Command{
		Name:  "config",
		Usage: "inspect a node's configuration",
		Subcommands: []*cli.Command{{
			Name:  "print",
			Usage: "print the effective node configuration (as a configuration file) and where each value came from",
			Description: "Takes the node command's flags, reads TANGLED_* variables and --config FILE as " +
				"`tangled node` would (flag > env > file > default), and prints every setting with its origin.",
			Flags: nodeFlags(),
			Action: func(c *cli.Context) error {
				_, resolved, path, err := loadNodeOptions(c)
				if err != nil {
					return err
				}
				return printConfig(c.App.Writer, c, resolved, path)
			},
		}},
	}
}

// printConfig writes the effective settings as TOML, each with its origin
// as a comment, so the output is itself a valid configuration file.
func printConfig(w io.Writer, c *cli.Context, resolved []resolvedSetting, path string) error {
	var b bytes.Buffer
	b.WriteString("# tangled node: effective configuration (flag > env > file > default)\n")
	if path == "" {
		b.WriteString("# configuration file: none\n")
	} else {
		fmt.Fprintf(&b, "# configuration file: %s\n", path)
	}
	for _, r := range resolved {
		var v any
		switch r.kind {
		case kindStrings:
			v = append([]string{}, c.StringSlice(r.name)...)
		case kindDuration:
			v = c.Duration(r.name).String()
		default:
			v = c.String(r.name)
		}
		text, err := tomlValue(v)
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s = %s  # %s\n", r.name, text, r.origin)
	}
	_, err := w.Write(b.Bytes())
	return err
}

// tomlValue writes a string or a list of strings as TOML: JSON's string
// escapes are all valid in TOML basic strings.
func tomlValue(v any) (string, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", err
	}
	out := strings.TrimSuffix(b.String(), "\n")
	if strings.HasPrefix(out, "[") {
		out = strings.ReplaceAll(out, `","`, `", "`)
	}
	return out, nil
}
