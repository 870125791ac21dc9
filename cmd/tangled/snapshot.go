package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/tangled-ledger/tangled/node"
)

// snapshotCommand is `tangled snapshot`: a stopped node's store as one
// file, and a new node's data directory filled from it
// (docs/design/2026-12-04-snapshots.md).
func snapshotCommand() *cli.Command {
	dataDir := &cli.StringFlag{Name: "data-dir", Value: node.DefaultDataDir, EnvVars: env("DATA_DIR"), Usage: "the node's data directory"}
	genesis := &cli.StringFlag{Name: "genesis", EnvVars: env("GENESIS"), Usage: "the network's genesis file (default: DIR/genesis.json)"}
	return &cli.Command{
		Name:  "snapshot",
		Usage: "start a new node from what a stopped one holds (pruned history included)",
		Subcommands: []*cli.Command{
			{
				Name:  "create",
				Usage: "write the store of a cleanly stopped node to --out",
				Flags: []cli.Flag{dataDir, genesis,
					&cli.StringFlag{Name: "out", Required: true, Usage: "the snapshot file to write (must not exist)"}},
				Action: func(c *cli.Context) error {
					info, err := node.CreateSnapshot(snapshotConfig(c), c.String("out"))
					if err != nil {
						return err
					}
					fmt.Fprintf(c.App.Writer, "snapshot %s: network %s, %d transactions, %d bytes\n", c.String("out"), info.Genesis.Short(), info.Head, info.Bytes)
					return nil
				},
			},
			{
				Name:  "restore",
				Usage: "fill a new data directory from a snapshot; then `tangled node` starts from it",
				Flags: []cli.Flag{dataDir, genesis,
					&cli.StringFlag{Name: "in", Required: true, Usage: "the snapshot file"}},
				Action: func(c *cli.Context) error {
					info, err := node.RestoreSnapshot(snapshotConfig(c), c.String("in"))
					if err != nil {
						return err
					}
					fmt.Fprintf(c.App.Writer, "restored %s into %s: network %s, %d transactions\n", c.String("in"), c.String("data-dir"), info.Genesis.Short(), info.Head)
					return nil
				},
			},
		},
	}
}

func snapshotConfig(c *cli.Context) node.Config {
	return node.Config{DataDir: c.String("data-dir"), GenesisFile: c.String("genesis")}
}
