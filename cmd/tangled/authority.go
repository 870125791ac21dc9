package main

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/tangled-ledger/tangled/client"
	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/node"
)

func nodeURLFlag() cli.Flag {
	return &cli.StringFlag{Name: "node", Value: "http://" + node.DefaultHTTPAddr, EnvVars: env("NODE"), Usage: "node API URL"}
}

func timeoutFlag() cli.Flag {
	return &cli.DurationFlag{Name: "timeout", Value: time.Minute, Usage: "give up after this long"}
}

func authorityKeyFlag() cli.Flag {
	return &cli.StringFlag{Name: "key", Required: true, EnvVars: env("AUTHORITY_KEY"), Usage: "authority key file (as genesis new writes it)"}
}

func deviceRefFlag() cli.Flag {
	return &cli.StringFlag{Name: "device", Required: true, Usage: "device ID (or a key of the device), hex"}
}

func authorityCommand() *cli.Command {
	lifecycle := func(name, usage string, act func(*client.Authority, context.Context, dag.ID) (dag.ID, error)) *cli.Command {
		return &cli.Command{
			Name:  name,
			Usage: usage + "; prints the device as JSON",
			Flags: []cli.Flag{nodeURLFlag(), authorityKeyFlag(), deviceRefFlag(), timeoutFlag()},
			Action: func(c *cli.Context) error {
				return authorityAct(c, func(ctx context.Context, cl *client.Client, a *client.Authority, id dag.ID) (dag.ID, error) {
					return act(a, ctx, id)
				})
			},
		}
	}
	return &cli.Command{
		Name:  "authority",
		Usage: "act as a genesis authority: register and govern devices, set access policies",
		Subcommands: []*cli.Command{
			{
				Name:  "register",
				Usage: "register a device; prints its ID (the registration's) first, then the device as JSON",
				Flags: []cli.Flag{
					nodeURLFlag(), authorityKeyFlag(),
					&cli.StringFlag{Name: "device-key", Required: true, EnvVars: env("DEVICE_KEY"), Usage: "the device's key file, or its public key (hex)"},
					&cli.StringFlag{Name: "class", Required: true, Usage: "device class (one of the authority's)"},
					&cli.GenericFlag{Name: "attr", Value: &attrList{}, Usage: "attribute KEY=VALUE (repeatable)"},
					&cli.StringFlag{Name: "next-key-hash", Usage: "commit to the next key: its hash (hex, BLAKE3 of the public key)"},
					&cli.StringFlag{Name: "next-key", Usage: "commit to the next key: its key file or public key (hex); the hash is computed"},
					&cli.BoolFlag{Name: "wait", Usage: "wait for the registration's confirmation before printing the device"},
					timeoutFlag(),
				},
				Action: authorityRegister,
			},
			lifecycle("suspend", "suspend a device: its transactions are refused until resume", (*client.Authority).Suspend),
			lifecycle("resume", "resume a suspended device", (*client.Authority).Resume),
			lifecycle("revoke", "revoke a device for good", (*client.Authority).Revoke),
			{
				Name:  "transfer",
				Usage: "hand a device to another authority; prints the device as JSON",
				Flags: []cli.Flag{
					nodeURLFlag(), authorityKeyFlag(), deviceRefFlag(),
					&cli.StringFlag{Name: "to", Required: true, Usage: "the receiving authority: its public key (hex) or its genesis name"},
					timeoutFlag(),
				},
				Action: func(c *cli.Context) error {
					return authorityAct(c, func(ctx context.Context, cl *client.Client, a *client.Authority, id dag.ID) (dag.ID, error) {
						to, err := authorityByRef(ctx, cl, c.String("to"))
						if err != nil {
							return dag.ID{}, err
						}
						return a.Transfer(ctx, id, to)
					})
				},
			},
			authorityPolicyCommand(),
			{
				Name:  "retire",
				Usage: "retire the authority's own key (stolen or lost): from then on it acts no more and its firmware approvals count for nothing; irreversible; prints the transaction ID",
				Flags: []cli.Flag{nodeURLFlag(), authorityKeyFlag(), timeoutFlag()},
				Action: func(c *cli.Context) error {
					key, cl, err := keyAndClient(c)
					if err != nil {
						return err
					}
					ctx, cancel := commandContext(c)
					defer cancel()
					id, err := client.NewAuthority(cl, key).Retire(ctx)
					if err != nil {
						return err
					}
					if err := waitAttached(ctx, cl, id); err != nil {
						return err
					}
					fmt.Fprintln(c.App.Writer, id)
					return nil
				},
			},
			{
				Name:  "list",
				Usage: "print the network's authorities, their classes and device counts as JSON",
				Flags: []cli.Flag{nodeURLFlag()},
				Action: func(c *cli.Context) error {
					cl, err := client.New(c.String("node"), client.Options{})
					if err != nil {
						return err
					}
					auths, err := cl.Authorities(c.Context)
					if err != nil {
						return err
					}
					return printJSON(c.App.Writer, auths)
				},
			},
		},
	}
}

// attrList is --attr: KEY=VALUE, repeatable, never split on commas (a
// value may hold one).
type attrList struct{ attrs []client.Attribute }

func (l *attrList) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" {
		return fmt.Errorf("attribute %q: want KEY=VALUE", v)
	}
	l.attrs = append(l.attrs, client.Attribute{Key: k, Value: val})
	return nil
}

func (l *attrList) String() string {
	parts := make([]string, len(l.attrs))
	for i, a := range l.attrs {
		parts[i] = a.Key + "=" + a.Value
	}
	return strings.Join(parts, " ")
}

// commandContext bounds a command by --timeout and ends it on SIGINT or
// SIGTERM.
func commandContext(c *cli.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(c.Context, c.Duration("timeout"))
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	return ctx, func() { stop(); cancel() }
}

func authorityRegister(c *cli.Context) error {
	devKey, err := publicKeyArg(c.String("device-key"))
	if err != nil {
		return cli.Exit(fmt.Sprintf("--device-key: %v", err), 2)
	}
	reg := client.Registration{Key: devKey, Class: c.String("class"), Attributes: c.Generic("attr").(*attrList).attrs}
	switch {
	case c.IsSet("next-key-hash") && c.IsSet("next-key"):
		return cli.Exit("give --next-key-hash or --next-key, not both", 2)
	case c.IsSet("next-key-hash"):
		if reg.NextKeyHash, err = keyHashArg(c.String("next-key-hash")); err != nil {
			return cli.Exit(fmt.Sprintf("--next-key-hash: %v", err), 2)
		}
	case c.IsSet("next-key"):
		next, err := publicKeyArg(c.String("next-key"))
		if err != nil {
			return cli.Exit(fmt.Sprintf("--next-key: %v", err), 2)
		}
		h := client.KeyHash(next)
		reg.NextKeyHash = &h
	}
	key, cl, err := keyAndClient(c)
	if err != nil {
		return err
	}
	ctx, cancel := commandContext(c)
	defer cancel()
	id, err := client.NewAuthority(cl, key).Register(ctx, reg)
	if err != nil {
		return err
	}
	fmt.Fprintln(c.App.Writer, id)
	if c.Bool("wait") {
		if _, err := cl.WaitConfirmed(ctx, id); err != nil {
			return err
		}
	} else if err := waitAttached(ctx, cl, id); err != nil {
		return err
	}
	return printDevice(ctx, c.App.Writer, cl, id.String())
}

// keyAndClient loads --key and connects to --node.
func keyAndClient(c *cli.Context) (ed25519.PrivateKey, *client.Client, error) {
	key, err := client.LoadKey(c.String("key"))
	if err != nil {
		return nil, nil, err
	}
	cl, err := client.New(c.String("node"), client.Options{})
	if err != nil {
		return nil, nil, err
	}
	return key, cl, nil
}

// authorityAct runs a lifecycle action or transfer and prints the device
// once the action is attached.
func authorityAct(c *cli.Context, act func(ctx context.Context, cl *client.Client, a *client.Authority, id dag.ID) (dag.ID, error)) error {
	id, err := dag.ParseID(c.String("device"))
	if err != nil {
		return cli.Exit(fmt.Sprintf("--device: %v", err), 2)
	}
	key, cl, err := keyAndClient(c)
	if err != nil {
		return err
	}
	ctx, cancel := commandContext(c)
	defer cancel()
	txID, err := act(ctx, cl, client.NewAuthority(cl, key), id)
	if err != nil {
		return err
	}
	if err := waitAttached(ctx, cl, txID); err != nil {
		return err
	}
	return printDevice(ctx, c.App.Writer, cl, id.String())
}

// authorityByRef reads --to: a public key, or the name of a genesis
// authority.
func authorityByRef(ctx context.Context, cl *client.Client, ref string) (dag.PublicKey, error) {
	var pk dag.PublicKey
	if err := pk.UnmarshalText([]byte(ref)); err == nil {
		return pk, nil
	}
	auths, err := cl.Authorities(ctx)
	if err != nil {
		return pk, err
	}
	for _, a := range auths.Authorities {
		if a.Name == ref {
			return a.PublicKey, nil
		}
	}
	return pk, cli.Exit(fmt.Sprintf("--to %q: neither a public key (64 hex digits) nor the name of one of the network's authorities", ref), 2)
}

func deviceRotate(c *cli.Context) error {
	var nextHash *[32]byte
	if c.IsSet("next-key-hash") {
		h, err := keyHashArg(c.String("next-key-hash"))
		if err != nil {
			return cli.Exit(fmt.Sprintf("--next-key-hash: %v", err), 2)
		}
		nextHash = h
	}
	if c.IsSet("next-key") {
		if nextHash != nil {
			return cli.Exit("give --next-key-hash or --next-key, not both", 2)
		}
		next, err := publicKeyArg(c.String("next-key"))
		if err != nil {
			return cli.Exit(fmt.Sprintf("--next-key: %v", err), 2)
		}
		h := client.KeyHash(next)
		nextHash = &h
	}
	oldKey, err := client.LoadKey(c.String("key"))
	if err != nil {
		return err
	}
	newKey, err := client.LoadKey(c.String("new-key"))
	if err != nil {
		return err
	}
	cl, err := client.New(c.String("node"), client.Options{})
	if err != nil {
		return err
	}
	ctx, cancel := commandContext(c)
	defer cancel()
	dev := client.NewDevice(cl, oldKey)
	id, err := dev.Rotate(ctx, newKey, nextHash)
	if err != nil {
		return err
	}
	if err := waitAttached(ctx, cl, id); err != nil {
		return err
	}
	return printDevice(ctx, c.App.Writer, cl, dev.PublicKey().String())
}

func deviceStatus(c *cli.Context) error {
	if c.NArg() != 1 {
		return cli.Exit("usage: tangled device status [--node URL] ID", 2)
	}
	if _, err := dag.ParseID(c.Args().First()); err != nil {
		return cli.Exit(err.Error(), 2)
	}
	cl, err := client.New(c.String("node"), client.Options{})
	if err != nil {
		return err
	}
	return printDevice(c.Context, c.App.Writer, cl, c.Args().First())
}

func deviceHistory(c *cli.Context) error {
	if c.NArg() != 1 {
		return cli.Exit("usage: tangled device history [--node URL] [--from-seq N] [--to-seq N] [--limit N [--cursor C]] ID", 2)
	}
	id, err := dag.ParseID(c.Args().First())
	if err != nil {
		return cli.Exit(err.Error(), 2)
	}
	q := client.HistoryQuery{FromSeq: c.Uint64("from-seq"), Limit: c.Int("limit"), Cursor: c.String("cursor")}
	if c.IsSet("to-seq") {
		to := c.Uint64("to-seq")
		q.ToSeq = &to
	}
	if c.IsSet("cursor") && !c.IsSet("limit") {
		return cli.Exit("--cursor continues a paged listing: give --limit too", 2)
	}
	cl, err := client.New(c.String("node"), client.Options{})
	if err != nil {
		return err
	}
	if c.IsSet("limit") {
		page, err := cl.DeviceHistory(c.Context, id, q)
		if err != nil {
			return err
		}
		return printJSON(c.App.Writer, page)
	}
	all := client.DeviceHistory{Transactions: []client.DeviceTransaction{}}
	// The node's page size is its own; the maximum keeps requests few.
	q.Limit = 1000
	for {
		page, err := cl.DeviceHistory(c.Context, id, q)
		if err != nil {
			return err
		}
		// The device's ID as the node names it, also when asked by key.
		all.Device = page.Device
		all.Transactions = append(all.Transactions, page.Transactions...)
		if page.NextCursor == "" {
			return printJSON(c.App.Writer, all)
		}
		if page.NextCursor == q.Cursor {
			return fmt.Errorf("history of %s: the node's cursor %s does not advance", id, q.Cursor)
		}
		q.Cursor = page.NextCursor
	}
}

// waitAttached returns once the node has attached transaction id (it may
// have been parked, waiting for a parent).
func waitAttached(ctx context.Context, cl *client.Client, id dag.ID) error {
	// Subscribe before looking: an attachment in between is not missed.
	events, err := cl.Subscribe(ctx, client.EventFilter{IDs: []dag.ID{id}})
	if err != nil {
		return err
	}
	defer events.Close()
	st, err := cl.Transaction(ctx, id)
	if err != nil {
		return err
	}
	if st.Status != client.StateParked {
		return nil
	}
	// Any event of the transaction (attached, confirmed, conflicting)
	// means it is attached.
	if _, err := events.Next(); err != nil {
		return fmt.Errorf("waiting for %s to attach: %w", id, err)
	}
	return nil
}

func printDevice(ctx context.Context, w io.Writer, cl *client.Client, ref string) error {
	d, err := cl.Device(ctx, ref)
	if err != nil {
		return err
	}
	return printJSON(w, d)
}

func printJSON(w io.Writer, v any) error {
	out, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(out, '\n'))
	return err
}

// publicKeyArg reads a key file (the public half is taken) or a public key
// in hex.
func publicKeyArg(arg string) (dag.PublicKey, error) {
	var pk dag.PublicKey
	if _, err := os.Stat(arg); err == nil {
		key, err := client.LoadKey(arg)
		if err != nil {
			return pk, err
		}
		copy(pk[:], key.Public().(ed25519.PublicKey))
		return pk, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return pk, err
	}
	if err := pk.UnmarshalText([]byte(arg)); err != nil {
		return pk, fmt.Errorf("%q is neither a key file nor a public key (64 hex digits)", arg)
	}
	return pk, nil
}

// keyHashArg reads a next-key commitment: 64 hex digits.
func keyHashArg(arg string) (*[32]byte, error) {
	b, err := hex.DecodeString(arg)
	if err != nil || len(b) != 32 || strings.ToLower(arg) != arg {
		return nil, fmt.Errorf("%q: want 64 lower-case hex digits", arg)
	}
	var h [32]byte
	copy(h[:], b)
	return &h, nil
}
