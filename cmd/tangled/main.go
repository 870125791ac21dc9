// Command tangled runs a tangled node and talks to one: it is a thin layer
// that turns flags and environment variables into the node and client
// packages' configurations.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/tangled-ledger/tangled/client"
	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/node"
)

func main() {
	if err := newApp(os.Stdout).Run(os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "tangled:", err)
		var exit cli.ExitCoder
		if errors.As(err, &exit) {
			os.Exit(exit.ExitCode())
		}
		os.Exit(1)
	}
}

func env(name string) []string { return []string{"TANGLED_" + name} }

func newApp(out io.Writer) *cli.App {
	return &cli.App{
		Name:                 "tangled",
		Usage:                "a Tangle-style DAG ledger for IoT device security",
		Version:              node.Version,
		Writer:               out,
		EnableBashCompletion: true,
		// main turns errors into exit codes; the library's default handler
		// would call os.Exit from inside Run.
		ExitErrHandler: func(*cli.Context, error) {},
		Commands: []*cli.Command{
			nodeCommand(),
			configCommand(),
			genesisCommand(),
			deviceCommand(),
			authorityCommand(),
			policyCommand(),
			firmwareCommand(),
			evidenceCommand(),
			snapshotCommand(),
			txCommand(),
			benchCommand(),
		},
	}
}

func nodeCommand() *cli.Command {
	return &cli.Command{
		Name:  "node",
		Usage: "run a node (Badger store, HTTP API, beacons when the key is a validator)",
		Description: "Every flag is also a TANGLED_* environment variable and a key of the --config file " +
			"(docs/configuration.md); `tangled config print` shows the effective values.",
		Flags: nodeFlags(),
		Action: func(c *cli.Context) error {
			opts, _, _, err := loadNodeOptions(c)
			if err != nil {
				return err
			}
			cfg := opts.Config
			if cfg.Logger, cfg.LogLevel, err = nodeLogger(opts, c.App.ErrWriter); err != nil {
				return cli.Exit(err.Error(), 2)
			}
			n, err := node.New(cfg)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
			defer stop()
			return n.Run(ctx)
		},
	}
}

func genesisCommand() *cli.Command {
	return &cli.Command{
		Name:  "genesis",
		Usage: "create network descriptions",
		Subcommands: []*cli.Command{{
			Name:  "new",
			Usage: "write DIR/genesis.json and one key file per validator and per authority",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "out", Required: true, EnvVars: env("GENESIS_OUT"), Usage: "output directory"},
				&cli.IntFlag{Name: "validators", Value: 1, EnvVars: env("VALIDATORS"), Usage: "number of validators"},
				&cli.StringFlag{Name: "network-id", EnvVars: env("NETWORK_ID"), Usage: "network name (default: random)"},
				&cli.IntFlag{Name: "authorities", EnvVars: env("AUTHORITIES"), Usage: "number of device authorities (authority-1 ...)"},
				&cli.StringSliceFlag{Name: "classes", EnvVars: env("CLASSES"), Usage: "device classes every authority may register, comma-separated (default: sensor)"},
				&cli.BoolFlag{Name: "permissioned", EnvVars: env("PERMISSIONED"), Usage: "only registered, active devices may write (needs --authorities)"},
				&cli.Uint64Flag{Name: "policy-cost-limit", EnvVars: env("POLICY_COST_LIMIT"), Usage: "access policies' cost limit in cel-go units (default 1000, about 50 µs)"},
			},
			Action: genesisNew,
		}},
	}
}

func genesisNew(c *cli.Context) error {
	dir := c.String("out")
	if c.IsSet("policy-cost-limit") && c.Uint64("policy-cost-limit") == 0 {
		return cli.Exit("--policy-cost-limit must be at least 1", 2)
	}
	g, err := node.NewGenesis(dir, node.GenesisOptions{
		Validators:      c.Int("validators"),
		NetworkID:       c.String("network-id"),
		Authorities:     c.Int("authorities"),
		Classes:         c.StringSlice("classes"),
		Permissioned:    c.Bool("permissioned"),
		PolicyCostLimit: c.Uint64("policy-cost-limit"),
	})
	if err != nil {
		return err
	}
	mode := "open"
	if g.Permissioned {
		mode = "permissioned"
	}
	w := c.App.Writer
	fmt.Fprintf(w, "network %s, genesis %s, %d validator(s), %d authorities (%s), written to %s\n",
		g.NetworkID, g.ID(), len(g.Validators), len(g.Authorities), mode, dir)
	fmt.Fprintf(w, "  %s\n", filepath.Join(dir, node.GenesisFile))
	for i, v := range g.Validators {
		fmt.Fprintf(w, "  %s  %s %s\n", filepath.Join(dir, node.ValidatorKeyFile(i+1)), v.Name, v.PublicKey)
	}
	for i, a := range g.Authorities {
		fmt.Fprintf(w, "  %s  %s %s classes %s\n", filepath.Join(dir, node.AuthorityKeyFile(i+1)), a.Name, a.PublicKey, strings.Join(a.Classes, ","))
	}
	return nil
}

func deviceCommand() *cli.Command {
	nodeFlag := &cli.StringFlag{Name: "node", Value: "http://" + node.DefaultHTTPAddr, EnvVars: env("NODE"), Usage: "node API URL"}
	return &cli.Command{
		Name:  "device",
		Usage: "act as a device: keys and signed readings",
		Subcommands: []*cli.Command{
			{
				Name:  "keygen",
				Usage: "create a device key file",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "out", Required: true, EnvVars: env("KEY_OUT"), Usage: "key file to write (mode 0600)"},
				},
				Action: func(c *cli.Context) error {
					key, err := client.GenerateKey()
					if err != nil {
						return err
					}
					if err := client.SaveKey(c.String("out"), key, false); err != nil {
						return err
					}
					fmt.Fprintf(c.App.Writer, "%x\n", key.Public())
					return nil
				},
			},
			{
				Name:  "sign",
				Usage: "build, sign and solve a reading without posting it (for curl or a gateway)",
				Flags: []cli.Flag{
					nodeFlag,
					&cli.StringFlag{Name: "key", Required: true, EnvVars: env("DEVICE_KEY"), Usage: "device key file"},
					&cli.StringFlag{Name: "data", Required: true, Usage: "payload text"},
					&cli.StringFlag{Name: "out", Required: true, Usage: "file for the transaction"},
					&cli.BoolFlag{Name: "json", Usage: "write the JSON form instead of the binary encoding"},
				},
				Action: deviceSign,
			},
			{
				Name:  "send",
				Usage: "sign, solve and post a reading; prints its ID first",
				Flags: []cli.Flag{
					nodeFlag,
					&cli.StringFlag{Name: "key", Required: true, EnvVars: env("DEVICE_KEY"), Usage: "device key file"},
					&cli.StringFlag{Name: "data", Usage: "payload text"},
					&cli.StringFlag{Name: "file", Usage: "payload file"},
					&cli.BoolFlag{Name: "wait", Usage: "wait for confirmation and print the status"},
					&cli.BoolFlag{Name: "node-work", Usage: "sign only and let the node solve the proof-of-work (within the device policy's node-work allowance)"},
					&cli.DurationFlag{Name: "timeout", Value: time.Minute, Usage: "give up after this long"},
				},
				Action: deviceSend,
			},
			{
				Name:  "rotate",
				Usage: "rotate the device's key: sign a rotation with the old key; prints the device as JSON",
				Flags: []cli.Flag{
					nodeFlag,
					&cli.StringFlag{Name: "key", Required: true, EnvVars: env("DEVICE_KEY"), Usage: "the device's current key file"},
					&cli.StringFlag{Name: "new-key", Required: true, Usage: "the new key file (keep it: only it writes for the device afterwards)"},
					&cli.StringFlag{Name: "next-key-hash", Usage: "commit to the key after the new one: its hash (hex, BLAKE3 of the public key)"},
					&cli.StringFlag{Name: "next-key", Usage: "commit to the key after the new one: its key file or public key (hex); the hash is computed"},
					timeoutFlag(),
				},
				Action: deviceRotate,
			},
			{
				Name:      "status",
				Usage:     "print a registered device (state, owner, keys, control history) as JSON",
				ArgsUsage: "ID (or a key of the device)",
				Flags:     []cli.Flag{nodeFlag},
				Action:    deviceStatus,
			},
			{
				Name:      "history",
				Usage:     "print a device's chain transactions as JSON: all of them, or one page with --limit",
				ArgsUsage: "ID (or a key of the device)",
				Flags: []cli.Flag{
					nodeFlag,
					&cli.Uint64Flag{Name: "from-seq", Usage: "first sequence number"},
					&cli.Uint64Flag{Name: "to-seq", Usage: "last sequence number"},
					&cli.IntFlag{Name: "limit", Usage: "print one page of at most this many (1 to 1000), with next_cursor when more follow"},
					&cli.StringFlag{Name: "cursor", Usage: "the page to print: a next_cursor (with --limit)"},
				},
				Action: deviceHistory,
			},
			installReportCommand(),
		},
	}
}

func deviceSend(c *cli.Context) error {
	var payload []byte
	switch {
	case c.IsSet("data") && c.IsSet("file"):
		return cli.Exit("give --data or --file, not both", 2)
	case c.IsSet("data"):
		payload = []byte(c.String("data"))
	case c.IsSet("file"):
		data, err := os.ReadFile(c.String("file"))
		if err != nil {
			return err
		}
		payload = data
	default:
		return cli.Exit("give --data TEXT or --file PATH", 2)
	}
	key, err := client.LoadKey(c.String("key"))
	if err != nil {
		return err
	}
	cl, err := client.New(c.String("node"), client.Options{})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(c.Context, c.Duration("timeout"))
	defer cancel()
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	dev := client.NewDeviceWithOptions(cl, key, client.DeviceOptions{NodeWork: c.Bool("node-work")})
	id, err := dev.Send(ctx, dag.KindData, payload)
	if err != nil {
		return err
	}
	fmt.Fprintln(c.App.Writer, id)
	if !c.Bool("wait") {
		return nil
	}
	st, err := cl.WaitConfirmed(ctx, id)
	if err != nil {
		return err
	}
	fmt.Fprintln(c.App.Writer, st.Status)
	return nil
}

func deviceSign(c *cli.Context) error {
	key, err := client.LoadKey(c.String("key"))
	if err != nil {
		return err
	}
	cl, err := client.New(c.String("node"), client.Options{})
	if err != nil {
		return err
	}
	tx, err := client.NewDevice(cl, key).Prepare(c.Context, dag.KindData, []byte(c.String("data")))
	if err != nil {
		return err
	}
	out := tx.Bytes()
	if c.Bool("json") {
		if out, err = json.Marshal(tx); err != nil {
			return err
		}
	}
	if err := os.WriteFile(c.String("out"), out, 0o644); err != nil {
		return err
	}
	fmt.Fprintln(c.App.Writer, tx.ID())
	return nil
}

func txCommand() *cli.Command {
	return &cli.Command{
		Name:  "tx",
		Usage: "inspect transactions",
		Subcommands: []*cli.Command{{
			Name:      "show",
			Usage:     "print a transaction and its status as JSON",
			ArgsUsage: "ID",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "node", Value: "http://" + node.DefaultHTTPAddr, EnvVars: env("NODE"), Usage: "node API URL"},
			},
			Action: func(c *cli.Context) error {
				if c.NArg() != 1 {
					return cli.Exit("usage: tangled tx show --node URL ID", 2)
				}
				id, err := dag.ParseID(c.Args().First())
				if err != nil {
					return cli.Exit(err.Error(), 2)
				}
				cl, err := client.New(c.String("node"), client.Options{})
				if err != nil {
					return err
				}
				st, err := cl.Transaction(c.Context, id)
				if err != nil {
					return err
				}
				out, err := json.MarshalIndent(st, "", "  ")
				if err != nil {
					return err
				}
				_, err = c.App.Writer.Write(append(out, '\n'))
				return err
			},
		}},
	}
}
