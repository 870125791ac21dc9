package main

import (
	"github.com/urfave/cli/v2"

	"github.com/tangled-ledger/tangled/client"
)

// firmwareCommand is `tangled firmware`: so far the status of a class
// (publishing, approving and fetching are still to come).
func firmwareCommand() *cli.Command {
	return &cli.Command{
		Name:  "firmware",
		Usage: "firmware releases of a device class",
		Subcommands: []*cli.Command{{
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
		}},
	}
}
