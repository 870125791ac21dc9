package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/tangled-ledger/tangled/bench"
)

func loadCommand() *cli.Command {
	return &cli.Command{
		Name:  "load",
		Usage: "load real nodes on loopback with devices posting signed readings over HTTP",
		Description: "Starts --nodes validator nodes peering over QUIC on loopback (child processes of this binary unless\n" +
			"--in-process) and --devices devices, device d posting to node d mod N at --rate readings per second in\n" +
			"total (0: as fast as possible). Prints throughput, confirmation latency percentiles, rejections by code\n" +
			"and each node's CPU and memory; --json prints one JSON object; --out DIR writes summary.json, load.csv\n" +
			"and load.png/load.svg. See docs/bench/load.md.",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "nodes", Value: bench.DefaultLoadNodes, EnvVars: env("LOAD_NODES"), Usage: "validator nodes in the mesh"},
			&cli.IntFlag{Name: "devices", Value: bench.DefaultLoadDevices, EnvVars: env("LOAD_DEVICES"), Usage: "simulated devices, each with its own key"},
			&cli.Float64Flag{Name: "rate", Value: 1000, EnvVars: env("LOAD_RATE"), Usage: "offered load, transactions per second in total (0: as fast as possible)"},
			&cli.DurationFlag{Name: "duration", Value: bench.DefaultLoadDuration, EnvVars: env("LOAD_DURATION"), Usage: "how long devices send"},
			&cli.DurationFlag{Name: "warmup", Value: 2 * time.Second, EnvVars: env("LOAD_WARMUP"), Usage: "leading part of --duration left out of the statistics"},
			&cli.DurationFlag{Name: "grace", Value: bench.DefaultLoadGrace, EnvVars: env("LOAD_GRACE"), Usage: "wait this long after sending for outstanding confirmations"},
			&cli.DurationFlag{Name: "beacon-interval", EnvVars: env("LOAD_BEACON_INTERVAL"), Usage: "validators' beacon interval (default: the node's)"},
			&cli.StringFlag{Name: "beacon-rule", EnvVars: env("LOAD_BEACON_RULE"), Usage: "validators' beacon rule, sweep or rounds (default: the node's)"},
			&cli.IntFlag{Name: "payload", Value: bench.DefaultLoadPayload, EnvVars: env("LOAD_PAYLOAD"), Usage: "bytes per reading"},
			&cli.Uint64Flag{Name: "seed", Value: 1, EnvVars: env("LOAD_SEED"), Usage: "seed of the devices' schedule offsets"},
			&cli.StringFlag{Name: "out", EnvVars: env("LOAD_OUT"), Usage: "directory for summary.json, load.csv and the plots"},
			&cli.BoolFlag{Name: "json", EnvVars: env("LOAD_JSON"), Usage: "print the summary as one JSON object"},
			&cli.StringFlag{Name: "dir", EnvVars: env("LOAD_DIR"), Usage: "work directory for genesis, data and node logs (default: a temporary one, removed afterwards)"},
			&cli.BoolFlag{Name: "keep", EnvVars: env("LOAD_KEEP"), Usage: "keep the temporary work directory (node logs) and print its path"},
			&cli.BoolFlag{Name: "in-process", EnvVars: env("LOAD_IN_PROCESS"), Usage: "run the nodes in this process (no per-node CPU and memory)"},
			&cli.StringFlag{Name: "binary", EnvVars: env("LOAD_BINARY"), Usage: "tangled binary for the node processes (default: this one)"},
			&cli.BoolFlag{Name: "progress", EnvVars: env("LOAD_PROGRESS"), Usage: "show progress on stderr even when it is not a terminal"},
		},
		Action: runLoad,
	}
}

func runLoad(c *cli.Context) error {
	if c.NArg() > 0 {
		return cli.Exit(fmt.Sprintf("unexpected argument %q (flags go before arguments)", c.Args().First()), 2)
	}
	cfg := bench.LoadConfig{
		Nodes:          c.Int("nodes"),
		Devices:        c.Int("devices"),
		Rate:           c.Float64("rate"),
		Duration:       c.Duration("duration"),
		Warmup:         c.Duration("warmup"),
		Grace:          c.Duration("grace"),
		BeaconInterval: c.Duration("beacon-interval"),
		BeaconRule:     c.String("beacon-rule"),
		PayloadBytes:   c.Int("payload"),
		Seed:           c.Uint64("seed"),
	}
	// Zero means "default" in the library; on the command line an
	// explicit zero is a mistake.
	if c.Int("nodes") <= 0 || c.Int("devices") <= 0 || c.Duration("duration") <= 0 {
		return cli.Exit("--nodes, --devices and --duration must be positive", 2)
	}
	if err := cfg.Validate(); err != nil {
		return cli.Exit(err.Error(), 2)
	}
	if c.Bool("in-process") && c.IsSet("binary") {
		return cli.Exit("give --in-process or --binary, not both", 2)
	}
	if !c.Bool("in-process") {
		cfg.Binary = c.String("binary")
		if cfg.Binary == "" {
			exe, err := os.Executable()
			if err != nil {
				return fmt.Errorf("finding this binary for the node processes: %w (use --in-process or --binary)", err)
			}
			cfg.Binary = exe
		}
	}
	cfg.Dir = c.String("dir")
	if cfg.Dir == "" {
		tmp, err := os.MkdirTemp("", "tangled-load-")
		if err != nil {
			return err
		}
		if c.Bool("keep") {
			fmt.Fprintln(os.Stderr, "bench load: work directory", tmp)
		} else {
			defer os.RemoveAll(tmp)
		}
		cfg.Dir = tmp
	}
	if c.Bool("progress") || isTerminal(os.Stderr) {
		cfg.Progress = os.Stderr
	}
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := bench.RunLoad(ctx, cfg)
	if err != nil {
		return err
	}
	rep.Summary.Command = "tangled " + strings.Join(os.Args[1:], " ")
	if dir := c.String("out"); dir != "" {
		if err := rep.WriteFiles(dir); err != nil {
			return err
		}
	}
	out := c.App.Writer
	if c.Bool("json") {
		return json.NewEncoder(out).Encode(rep.Summary)
	}
	return rep.WriteTable(out)
}
