package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/tangled-ledger/tangled/client"
	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/device"
)

// firmwareCommand is `tangled firmware`: publish, approve, status, fetch.
func firmwareCommand() *cli.Command {
	return &cli.Command{
		Name:  "firmware",
		Usage: "firmware releases of a device class",
		Subcommands: []*cli.Command{
			{
				Name:  "publish",
				Usage: "sign and post a release of an image (SHA-256 and size computed), then upload the image to the node; prints the release's ID",
				Flags: []cli.Flag{
					nodeURLFlag(), authorityKeyFlag(), timeoutFlag(),
					&cli.StringFlag{Name: "class", Required: true, Usage: "device class"},
					&cli.Uint64Flag{Name: "version", Required: true, Usage: "the release's sequence number, above every earlier one of the class and component"},
					&cli.StringFlag{Name: "image", Required: true, Usage: "image file"},
					&cli.StringSliceFlag{Name: "uri", Usage: "where devices may also fetch the image (repeatable, at most 4)"},
					&cli.BoolFlag{Name: "security", Usage: "mark the release as a security update"},
					&cli.StringFlag{Name: "component", Value: "main", Usage: "the component (release line) of the class"},
					&cli.Uint64Flag{Name: "requires", Usage: "version a device must have installed first"},
					&cli.StringFlag{Name: "precursor", Usage: "for a differential image: the image file it applies to (its SHA-256 is signed)"},
					&cli.StringFlag{Name: "expires", Usage: "ledger time (RFC 3339) after which devices must not install it"},
					&cli.BoolFlag{Name: "no-upload", Usage: "do not upload the image to the node (devices fetch it from --uri)"},
				},
				Action: firmwarePublish,
			},
			{
				Name:  "approve",
				Usage: "co-sign a release as one of the class's approvers; prints the approval's ID",
				Flags: []cli.Flag{
					nodeURLFlag(), timeoutFlag(),
					&cli.StringFlag{Name: "key", Required: true, EnvVars: env("APPROVER_KEY"), Usage: "approver key file (a genesis authority named in firmware_approvals)"},
					&cli.StringFlag{Name: "release", Required: true, Usage: "the release's ID"},
				},
				Action: func(c *cli.Context) error {
					rel, err := dag.ParseID(c.String("release"))
					if err != nil {
						return cli.Exit(fmt.Sprintf("--release: %v", err), 2)
					}
					key, cl, err := keyAndClient(c)
					if err != nil {
						return err
					}
					ctx, cancel := commandContext(c)
					defer cancel()
					id, err := client.NewAuthority(cl, key).Approve(ctx, rel)
					if err != nil {
						return err
					}
					fmt.Fprintln(c.App.Writer, id)
					return nil
				},
			},
			{
				Name:      "status",
				Usage:     "print a class's releases, the active one and the install reports as JSON, as of the node's newest confirmed transaction",
				ArgsUsage: "CLASS",
				Flags:     []cli.Flag{nodeURLFlag()},
				Action: func(c *cli.Context) error {
					if c.NArg() != 1 {
						return cli.Exit("firmware status takes one CLASS", 2)
					}
					cl, err := client.New(c.String("node"), client.Options{})
					if err != nil {
						return err
					}
					fw, err := cl.Firmware(c.Context, c.Args().First())
					if err != nil {
						return err
					}
					return printJSON(c.App.Writer, fw)
				},
			},
			{
				Name:      "fetch",
				Usage:     "download the class's active release and verify it as a device would (line, version, expiry in ledger time, precursor, size, digest) before writing FILE; prints the release as JSON",
				ArgsUsage: "CLASS",
				Flags: []cli.Flag{
					nodeURLFlag(), timeoutFlag(),
					&cli.StringFlag{Name: "out", Usage: "file to write the verified image to (FILE.part while downloading); required"},
					&cli.StringFlag{Name: "component", Value: "main", Usage: "the component (release line)"},
					&cli.Uint64Flag{Name: "installed", Usage: "the version the device runs: the release must be above it"},
					&cli.StringFlag{Name: "current", Usage: "the image the device runs (a differential release's precursor must be it)"},
					&cli.StringSliceFlag{Name: "source", Usage: "another URL to fetch the image from, tried after the node (repeatable)"},
					&cli.StringFlag{Name: "key", EnvVars: env("DEVICE_KEY"), Usage: "device key file: post an anchor and require a freshness proof for it (no clock needed)"},
					&cli.StringFlag{Name: "genesis", EnvVars: env("GENESIS"), Usage: "the network's genesis file, the proof's root of trust (default: the validators the node reports)"},
				},
				Action: firmwareFetch,
			},
		},
	}
}

func firmwarePublish(c *cli.Context) error {
	image, err := os.ReadFile(c.String("image"))
	if err != nil {
		return err
	}
	rel := &client.Release{
		Class: c.String("class"), Component: c.String("component"), Seq: c.Uint64("version"),
		Digest: device.ImageDigest(image), Size: uint64(len(image)), URIs: c.StringSlice("uri"),
		Requires: c.Uint64("requires"), Security: c.Bool("security"),
	}
	if p := c.String("precursor"); p != "" {
		prev, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		d := device.ImageDigest(prev)
		rel.Precursor = &d
	}
	if e := c.String("expires"); e != "" {
		t, err := time.Parse(time.RFC3339Nano, e)
		if err != nil {
			return cli.Exit(fmt.Sprintf("--expires: %v", err), 2)
		}
		rel.Expires = t.UnixNano()
	}
	if err := rel.Validate(); err != nil {
		return cli.Exit(err.Error(), 2)
	}
	key, cl, err := keyAndClient(c)
	if err != nil {
		return err
	}
	ctx, cancel := commandContext(c)
	defer cancel()
	id, err := client.NewAuthority(cl, key).Publish(ctx, rel)
	if err != nil {
		return err
	}
	fmt.Fprintln(c.App.Writer, id)
	if c.Bool("no-upload") {
		return nil
	}
	return uploadWhenKnown(ctx, cl, image)
}

// uploadWhenKnown uploads the image once the node has the release (a
// release parked for a missing parent is not there yet); a node that
// hosts no images is not an error.
func uploadWhenKnown(ctx context.Context, cl *client.Client, image []byte) error {
	for wait := 50 * time.Millisecond; ; wait = min(2*wait, 2*time.Second) {
		err := cl.UploadImage(ctx, image)
		var apiErr *client.APIError
		switch {
		case err == nil:
			return nil
		case errors.As(err, &apiErr) && apiErr.Code == "not_found":
			return nil
		case !errors.As(err, &apiErr) || apiErr.Code != device.CodeUnknownRelease:
			return fmt.Errorf("%w (uploading the image)", err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (the node never had the release to upload its image for)", err)
		case <-time.After(wait):
		}
	}
}

func firmwareFetch(c *cli.Context) error {
	if args := c.Args().Slice(); len(args) > 1 && !c.IsSet("out") {
		// `fetch CLASS --out FILE` as the issue spells it: urfave/cli
		// takes what follows the first argument as arguments, so run
		// again with the flags first.
		return c.App.RunContext(c.Context, append(append([]string{c.App.Name, "firmware", "fetch"}, args[1:]...), args[0]))
	}
	if c.NArg() != 1 {
		return cli.Exit("firmware fetch takes one CLASS", 2)
	}
	if !c.IsSet("out") {
		return cli.Exit("firmware fetch needs --out FILE", 2)
	}
	opts := client.FetchOptions{Component: c.String("component"), Installed: c.Uint64("installed"), Sources: c.StringSlice("source")}
	if p := c.String("current"); p != "" {
		cur, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		d := device.ImageDigest(cur)
		opts.Current = &d
	}
	if p := c.String("key"); p != "" {
		key, err := client.LoadKey(p)
		if err != nil {
			return err
		}
		opts.Freshness = &client.Freshness{Key: key}
		if g := c.String("genesis"); g != "" {
			if opts.Freshness.Genesis, err = dag.LoadGenesis(g); err != nil {
				return err
			}
		}
	} else if c.IsSet("genesis") {
		return cli.Exit("--genesis is the root of trust of a freshness proof: give --key too", 2)
	}
	cl, err := client.New(c.String("node"), client.Options{})
	if err != nil {
		return err
	}
	ctx, cancel := commandContext(c)
	defer cancel()
	rel, err := cl.FetchFirmware(ctx, c.Args().First(), c.String("out"), opts)
	if err != nil {
		return err
	}
	return printJSON(c.App.Writer, rel)
}

// installReportCommand is `tangled device install-report`.
func installReportCommand() *cli.Command {
	return &cli.Command{
		Name:  "install-report",
		Usage: "report what the device installed (the release, the digest of the installed image, ok or failed); prints the report's ID",
		Flags: []cli.Flag{
			nodeURLFlag(), timeoutFlag(),
			&cli.StringFlag{Name: "key", Required: true, EnvVars: env("DEVICE_KEY"), Usage: "device key file"},
			&cli.StringFlag{Name: "release", Required: true, Usage: "the release's ID"},
			&cli.StringFlag{Name: "result", Required: true, Usage: "ok or failed"},
			&cli.StringFlag{Name: "image", Usage: "the installed image, whose SHA-256 is reported (default: the release's digest)"},
		},
		Action: func(c *cli.Context) error {
			rel, err := dag.ParseID(c.String("release"))
			if err != nil {
				return cli.Exit(fmt.Sprintf("--release: %v", err), 2)
			}
			var result device.InstallResult
			switch c.String("result") {
			case "ok":
				result = device.InstallOK
			case "failed":
				result = device.InstallFailed
			default:
				return cli.Exit("--result is ok or failed", 2)
			}
			key, cl, err := keyAndClient(c)
			if err != nil {
				return err
			}
			ctx, cancel := commandContext(c)
			defer cancel()
			var measured [32]byte
			if p := c.String("image"); p != "" {
				img, err := os.ReadFile(p)
				if err != nil {
					return err
				}
				measured = device.ImageDigest(img)
			} else {
				m, err := cl.Release(ctx, rel)
				if err != nil {
					return err
				}
				measured = m.Digest
			}
			id, err := client.NewDevice(cl, key).ReportInstall(ctx, rel, measured, result)
			if err != nil {
				return err
			}
			fmt.Fprintln(c.App.Writer, id)
			return nil
		},
	}
}
