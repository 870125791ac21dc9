package main

import (
	"encoding/json"

	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/tangled-ledger/tangled/bench/sim"
)

// benchCommand groups the research benchmarks; each is a subcommand.
func benchCommand() *cli.Command {
	return &cli.Command{
		Name:        "bench",
		Usage:       "research benchmarks: the Tangle simulator (and load tests)",
		Subcommands: []*cli.Command{simCommand(), loadCommand()},
	}
}

func simCommand() *cli.Command {
	return &cli.Command{
		Name:  "sim",
		Usage: "simulate the continuous-time Tangle model in virtual time over the real dag and tipselect code",
		Description: "Poisson arrivals at rate --lambda; each transaction and its approvals become visible --delay after issue.\n" +
			"Prints a summary (--json: one JSON object); --out DIR writes CSV series and PNG/SVG plots.\n" +
			"The same --seed gives the same output byte for byte. See docs/bench/sim.md.",
		Flags: []cli.Flag{
			&cli.Float64Flag{Name: "lambda", Value: 50, EnvVars: env("SIM_LAMBDA"), Usage: "arrival rate λ, transactions per virtual second"},
			&cli.StringFlag{Name: "delay", Value: "2", EnvVars: env("SIM_DELAY"), Usage: "visibility delay h: SECONDS, exp:MEAN or uniform:MIN,MAX"},
			&cli.IntFlag{Name: "parents", Value: 2, EnvVars: env("SIM_PARENTS"), Usage: "parents per transaction, k (k ≠ 2 uses the model engine)"},
			&cli.StringFlag{Name: "tipsel", Value: string(sim.URTS), EnvVars: env("SIM_TIPSEL"), Usage: "tip selection: urts or mcmc"},
			&cli.Float64Flag{Name: "alpha", EnvVars: env("SIM_ALPHA"), Usage: "MCMC bias α (0: unbiased walk)"},
			&cli.StringFlag{Name: "start", Value: string(sim.StartCover), EnvVars: env("SIM_START"), Usage: "MCMC start rule: cover (newest start at least --start-age old whose cone holds every tip), age (newest at least --start-age old, may orphan), genesis"},
			&cli.StringFlag{Name: "start-age", EnvVars: env("SIM_START_AGE"), Usage: "MCMC: walks start at a transaction visible at least this long (default 30h)"},
			&cli.StringFlag{Name: "retention", Aliases: []string{"expiry"}, Value: "0", EnvVars: append(env("SIM_RETENTION"), env("SIM_EXPIRY")...), Usage: "URTS, Hornet's retention: keep an approved tip selectable this long after its first visible approval (0: whitepaper rule; --expiry is the old name)"},
			&cli.StringFlag{Name: "tip-expiry", Value: "0", EnvVars: env("SIM_TIP_EXPIRY"), Usage: "URTS: a tip still unapproved this long after its issue leaves the pool for good (0: never; model engine)"},
			&cli.StringFlag{Name: "draw", Value: string(sim.DrawDistinct), EnvVars: env("SIM_DRAW"), Usage: "how the k parents are drawn: distinct or replacement (model engine)"},
			&cli.IntFlag{Name: "count", Value: sim.DefaultCount, EnvVars: env("SIM_COUNT"), Usage: "transactions to issue (0: until --horizon)"},
			&cli.StringFlag{Name: "horizon", Value: "0", EnvVars: env("SIM_HORIZON"), Usage: "stop issuing at this virtual time (seconds; 0: none)"},
			&cli.IntFlag{Name: "warmup", EnvVars: env("SIM_WARMUP"), Usage: "leading transactions excluded from statistics (0: a tenth; -1: none)"},
			&cli.StringFlag{Name: "tail", EnvVars: env("SIM_TAIL"), Usage: "exclude transactions issued this close to the end from approval statistics (default 20h)"},
			&cli.Uint64Flag{Name: "seed", Value: 1, EnvVars: env("SIM_SEED"), Usage: "random seed"},
			&cli.StringFlag{Name: "model", Value: string(sim.Continuous), EnvVars: env("SIM_MODEL"), Usage: "continuous or discrete (batches every h)"},
			&cli.StringFlag{Name: "engine", EnvVars: env("SIM_ENGINE"), Usage: "dag (real ledger and tipselect) or model (own code: any k for URTS; MCMC from the cover start at α = 0 or the genesis at any α); default dag for k = 2"},
			&cli.StringFlag{Name: "confirm", Value: fmt.Sprintf("cw:%d", sim.DefaultCWThreshold), EnvVars: env("SIM_CONFIRM"), Usage: "confirmation rule: cw:N (cumulative weight ≥ N) or aw:Q (approval weight > Q of the issuers' total)"},
			&cli.StringFlag{Name: "issuers", Value: "10", EnvVars: env("SIM_ISSUERS"), Usage: "for aw: N equal issuers or weights W1,W2,..."},
			&cli.IntFlag{Name: "nodes", EnvVars: env("SIM_NODES"), Usage: "network model: N nodes with their own views (0: one global view)"},
			&cli.StringFlag{Name: "topology", Value: "regular:8", EnvVars: env("SIM_TOPOLOGY"), Usage: "network: complete, regular:D, smallworld:K,P or file:PATH (edges \"A B\" per line)"},
			&cli.StringFlag{Name: "latency", EnvVars: env("SIM_LATENCY"), Usage: "network: per-message link delay, as --delay (default --delay)"},
			&cli.Float64Flag{Name: "loss", EnvVars: env("SIM_LOSS"), Usage: "network: probability that a gossip message is lost"},
			&cli.StringFlag{Name: "weights", Value: "uniform", EnvVars: env("SIM_WEIGHTS"), Usage: "network: issuer weights, uniform or zipf:S"},
			&cli.StringFlag{Name: "self-delay", EnvVars: env("SIM_SELF_DELAY"), Usage: "network: delay before an issuer attaches its own transaction (0; at most the latency's minimum)"},
			&cli.StringFlag{Name: "sample-every", EnvVars: env("SIM_SAMPLE_EVERY"), Usage: "time step of the CSV series (default h)"},
			&cli.StringFlag{Name: "sweep", EnvVars: env("SIM_SWEEP"), Usage: "run once per value, e.g. lambda=10,20,50 (" + strings.Join(sim.SweepParams, ", ") + ")"},
			&cli.StringFlag{Name: "out", EnvVars: env("SIM_OUT"), Usage: "directory for CSV series and plots"},
			&cli.BoolFlag{Name: "json", EnvVars: env("SIM_JSON"), Usage: "print the summary as one JSON object"},
			&cli.BoolFlag{Name: "progress", EnvVars: env("SIM_PROGRESS"), Usage: "show progress on stderr even when it is not a terminal"},
		},
		Action: func(c *cli.Context) error {
			cfg, err := simConfig(c)
			if err != nil {
				return err
			}
			if c.Bool("progress") || isTerminal(os.Stderr) {
				cfg.Progress = progressLine(os.Stderr)
			}
			if c.String("sweep") == "" {
				return runSim(c, cfg)
			}
			return runSweep(c, cfg)
		},
	}
}

// simConfig turns flags into a sim.Config; sim validates the values.
func simConfig(c *cli.Context) (sim.Config, error) {
	cfg := sim.Config{
		Lambda:       c.Float64("lambda"),
		Parents:      c.Int("parents"),
		TipSelection: sim.TipSelection(c.String("tipsel")),
		Alpha:        c.Float64("alpha"),
		Count:        c.Int("count"),
		Warmup:       c.Int("warmup"),
		Seed:         c.Uint64("seed"),
		Model:        sim.Model(c.String("model")),
		Engine:       sim.Engine(c.String("engine")),
		Start:        sim.StartRule(c.String("start")),
		Draw:         sim.Draw(c.String("draw")),
	}
	var err error
	if cfg.Delay, err = sim.ParseDelay(c.String("delay")); err != nil {
		return cfg, fmt.Errorf("--delay: %w", err)
	}
	for _, d := range []struct {
		flag string
		dst  *time.Duration
	}{
		{"start-age", &cfg.StartAge}, {"retention", &cfg.Retention}, {"tip-expiry", &cfg.TipExpiry}, {"horizon", &cfg.Horizon},
		{"tail", &cfg.Tail}, {"sample-every", &cfg.SampleEvery},
	} {
		if v := c.String(d.flag); v != "" {
			if *d.dst, err = sim.ParseSeconds(v); err != nil {
				return cfg, fmt.Errorf("--%s: %w", d.flag, err)
			}
		}
	}
	if cfg.Confirm, err = sim.ParseConfirm(c.String("confirm"), c.String("issuers")); err != nil {
		return cfg, fmt.Errorf("--confirm: %w", err)
	}
	if n := c.Int("nodes"); n != 0 || c.String("sweep") != "" && strings.HasPrefix(c.String("sweep"), "nodes=") {
		net := &sim.Network{Nodes: n}
		if net.Topology, err = sim.ParseTopology(c.String("topology"), os.ReadFile); err != nil {
			return cfg, fmt.Errorf("--topology: %w", err)
		}
		if v := c.String("latency"); v != "" {
			if net.Latency, err = sim.ParseDelay(v); err != nil {
				return cfg, fmt.Errorf("--latency: %w", err)
			}
		}
		if net.Weights, err = sim.ParseWeights(c.String("weights")); err != nil {
			return cfg, fmt.Errorf("--weights: %w", err)
		}
		if v := c.String("self-delay"); v != "" {
			if net.SelfDelay, err = sim.ParseSeconds(v); err != nil {
				return cfg, fmt.Errorf("--self-delay: %w", err)
			}
		}
		net.Loss = c.Float64("loss")
		// The issuers are the nodes; --confirm aw:θ sets θ (cw rules do
		// not apply to a network).
		cfg.Confirm = sim.Confirm{Quorum: cfg.Confirm.Quorum}
		cfg.Network = net
	}
	return cfg, nil
}

func runSim(c *cli.Context, cfg sim.Config) error {
	res, err := sim.Run(cfg)
	if cfg.Progress != nil {
		fmt.Fprint(os.Stderr, "\r\033[K")
	}
	if err != nil {
		return err
	}
	if dir := c.String("out"); dir != "" {
		if err := res.WriteFiles(dir); err != nil {
			return err
		}
	}
	out := c.App.Writer
	if c.Bool("json") {
		return json.NewEncoder(out).Encode(res.Summary)
	}
	return res.WriteTable(out)
}

func runSweep(c *cli.Context, cfg sim.Config) error {
	sw, err := sim.ParseSweep(c.String("sweep"))
	if err != nil {
		return fmt.Errorf("--sweep: %w", err)
	}
	var results []*sim.Result
	for _, v := range sw.Values {
		run, err := sw.Apply(cfg, v)
		if err != nil {
			return err
		}
		res, err := sim.Run(run)
		if cfg.Progress != nil {
			fmt.Fprint(os.Stderr, "\r\033[K")
		}
		if err != nil {
			return fmt.Errorf("%s=%s: %w", sw.Param, v, err)
		}
		if dir := c.String("out"); dir != "" {
			if err := res.WriteFiles(filepath.Join(dir, sw.Param+"="+v)); err != nil {
				return err
			}
		}
		results = append(results, res)
	}
	if dir := c.String("out"); dir != "" {
		f, err := os.Create(filepath.Join(dir, "sweep.csv"))
		if err != nil {
			return err
		}
		err = sim.WriteSweepCSV(f, sw, results)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		if err := sim.WriteSweepPlot(dir, sw, results); err != nil {
			return err
		}
	}
	out := c.App.Writer
	if c.Bool("json") {
		runs := make([]sim.Summary, len(results))
		for i, r := range results {
			runs[i] = r.Summary
		}
		return json.NewEncoder(out).Encode(struct {
			Param  string        `json:"sweep"`
			Values []string      `json:"values"`
			Runs   []sim.Summary `json:"runs"`
		}{sw.Param, sw.Values, runs})
	}
	return sim.WriteSweepTable(out, sw, results)
}

// progressLine reports progress as one self-overwriting stderr line, so
// that stdout (the table or JSON) and the output files stay untouched.
func progressLine(w io.Writer) func(issued, planned int) {
	return func(issued, planned int) {
		if planned > 0 {
			fmt.Fprintf(w, "\rbench sim: %3d%% (%d/%d transactions)", 100*issued/planned, issued, planned)
			return
		}
		fmt.Fprintf(w, "\rbench sim: %d transactions", issued)
	}
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
