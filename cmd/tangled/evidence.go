package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/tangled-ledger/tangled/client"
	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/evidence"
)

// maxBundle bounds what `evidence verify` reads: a device's bundle with
// many rotations and actions stays far below it.
const maxBundle = 8 << 20

// evidenceCommand is `tangled evidence`: get and verify audit bundles.
func evidenceCommand() *cli.Command {
	genesisFlag := &cli.StringFlag{Name: "genesis", Required: true, EnvVars: env("GENESIS"), Usage: "the network's genesis file: the only thing a bundle is checked against"}
	return &cli.Command{
		Name:  "evidence",
		Usage: "audit evidence: bundles that prove a transaction or a device's history, checked offline",
		Subcommands: []*cli.Command{
			{
				Name:      "verify",
				Usage:     "check a bundle against the genesis alone (no network) and say what it proves; exits 1 if any byte of it was changed",
				ArgsUsage: "FILE",
				Flags:     []cli.Flag{genesisFlag, &cli.BoolFlag{Name: "json", Usage: "print what it proves as JSON"}},
				Action:    evidenceVerify,
			},
			{
				Name:  "get",
				Usage: "fetch a bundle from a node, verify it against the genesis and write it to --out (waits while evidence_pending for a transaction)",
				Flags: []cli.Flag{
					nodeURLFlag(), timeoutFlag(), genesisFlag,
					&cli.StringFlag{Name: "tx", Usage: "the transaction's ID"},
					&cli.StringFlag{Name: "device", Usage: "the device's ID or one of its keys"},
					&cli.StringFlag{Name: "out", Required: true, Usage: "file to write the bundle to"},
				},
				Action: evidenceGet,
			},
		},
	}
}

func loadGenesisFlag(c *cli.Context) (*dag.Genesis, error) {
	g, err := dag.LoadGenesis(c.String("genesis"))
	if err != nil {
		return nil, cli.Exit(fmt.Sprintf("--genesis: %v", err), 2)
	}
	return g, nil
}

func evidenceVerify(c *cli.Context) error {
	if c.NArg() != 1 {
		return cli.Exit("usage: tangled evidence verify --genesis GENESIS FILE", 2)
	}
	g, err := loadGenesisFlag(c)
	if err != nil {
		return err
	}
	f, err := os.Open(c.Args().First())
	if err != nil {
		return cli.Exit(err.Error(), 2)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxBundle+1))
	if err != nil {
		return cli.Exit(err.Error(), 2)
	}
	if len(data) > maxBundle {
		return cli.Exit(fmt.Sprintf("%s: larger than %d bytes: not a bundle", c.Args().First(), maxBundle), 1)
	}
	p, err := evidence.Verify(g, data)
	if err != nil {
		return cli.Exit("NOT VERIFIED: "+err.Error(), 1)
	}
	if c.Bool("json") {
		enc := json.NewEncoder(c.App.Writer)
		enc.SetIndent("", "  ")
		return enc.Encode(p)
	}
	printProven(c.App.Writer, g, p)
	return nil
}

func printProven(w io.Writer, g *dag.Genesis, p *evidence.Proven) {
	fmt.Fprintf(w, "VERIFIED against genesis %s (%s)\n", g.ID(), g.NetworkID)
	fmt.Fprintf(w, "checkpoint: log %s, size %d, root %s\n", p.Log, p.Size, p.Root)
	noun := "validators"
	if len(p.Signers) == 1 {
		noun = "validator"
	}
	fmt.Fprintf(w, "cosigned by %d %s, weight %d of %d:\n", len(p.Signers), noun, p.Weight, p.Total)
	for _, s := range p.Signers {
		name := ""
		for _, v := range g.Validators {
			if v.PublicKey == s && v.Name != "" {
				name = " (" + v.Name + ")"
			}
		}
		fmt.Fprintf(w, "  %s%s\n", s, name)
	}
	for _, e := range p.Entries {
		fmt.Fprintf(w, "transaction %s: %s by %s, seq %d, issued %s, at log index %d\n", e.ID, e.Kind, e.Issuer, e.Seq, e.Time, e.LogIndex)
	}
	if d := p.Device; d != nil {
		fmt.Fprintf(w, "device %s: class %s, owner %s, state %s, %d key(s), current %s\n", d.ID, d.Class, d.Owner, d.State, len(d.Keys), d.Keys[len(d.Keys)-1])
		if d.Quarantined {
			fmt.Fprintln(w, "QUARANTINED: the bundle holds two signed transactions of the device with one sequence number (a cloned key)")
		}
		fmt.Fprintln(w, "(facts as of the checkpoint; a later action needs a later bundle)")
	}
}

func evidenceGet(c *cli.Context) error {
	g, err := loadGenesisFlag(c)
	if err != nil {
		return err
	}
	tx, dev := c.String("tx"), c.String("device")
	if (tx == "") == (dev == "") {
		return cli.Exit("give --tx ID or --device ID, one of them", 2)
	}
	cl, err := client.New(c.String("node"), client.Options{})
	if err != nil {
		return err
	}
	ctx, cancel := commandContext(c)
	defer cancel()
	var raw []byte
	var p *evidence.Proven
	if tx != "" {
		id, err := dag.ParseID(tx)
		if err != nil {
			return cli.Exit(fmt.Sprintf("--tx: %v", err), 2)
		}
		raw, p, err = cl.WaitEvidence(ctx, g, id)
		if err != nil {
			return err
		}
	} else {
		raw, p, err = cl.DeviceEvidence(ctx, g, dev)
		if err != nil {
			return err
		}
	}
	if err := os.WriteFile(c.String("out"), raw, 0o644); err != nil {
		return errors.Join(errors.New("writing the bundle"), err)
	}
	printProven(c.App.Writer, g, p)
	return nil
}
