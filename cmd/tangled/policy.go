package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/tangled-ledger/tangled/client"
	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/device"
	"github.com/tangled-ledger/tangled/device/policy"
)

// scopeFlags are --class, --device and --network; required says whether
// one must be given (set) or none may mean all (show).
func scopeFlags(required bool) []cli.Flag {
	what := "show only"
	if required {
		what = "attach to"
	}
	return []cli.Flag{
		&cli.StringFlag{Name: "class", Usage: what + " a device class's policy"},
		&cli.StringFlag{Name: "device", Usage: what + " one device's policy: its ID (or one of its keys), hex"},
		&cli.BoolFlag{Name: "network", Usage: what + " the network's policy (set: an authority of class \"*\")"},
	}
}

// scopeArg reads the scope flags: at most one (exactly one if required).
func scopeArg(c *cli.Context, required bool) (*client.PolicyPayload, error) {
	n := 0
	for _, f := range []string{"class", "device", "network"} {
		if c.IsSet(f) {
			n++
		}
	}
	switch {
	case n > 1:
		return nil, cli.Exit("give one of --class, --device and --network", 2)
	case n == 0 && required:
		return nil, cli.Exit("give the policy's scope: --class CLASS, --device ID or --network", 2)
	case n == 0:
		return nil, nil
	}
	p := &client.PolicyPayload{Scope: client.ScopeNetwork}
	switch {
	case c.IsSet("class"):
		p.Scope, p.Class = client.ScopeClass, c.String("class")
		if !dag.ValidClass(p.Class) {
			return nil, cli.Exit(fmt.Sprintf("--class %q: 1 to 64 of a-z 0-9 . _ -", p.Class), 2)
		}
	case c.IsSet("device"):
		id, err := dag.ParseID(c.String("device"))
		if err != nil {
			return nil, cli.Exit(fmt.Sprintf("--device: %v", err), 2)
		}
		p.Scope, p.Device = client.ScopeDevice, id
	}
	return p, nil
}

func authorityPolicyCommand() *cli.Command {
	return &cli.Command{
		Name:  "policy",
		Usage: "attach access policies (CEL) to the network, a class or a device, and list them",
		Subcommands: []*cli.Command{
			{
				Name:  "set",
				Usage: "attach the policy in a .cel file to one scope; prints the policy transaction's ID",
				Flags: append([]cli.Flag{
					nodeURLFlag(), authorityKeyFlag(),
					&cli.StringFlag{Name: "file", Required: true, Usage: "policy file (// key: value header, then the CEL expression; docs/policies.md)"},
					&cli.BoolFlag{Name: "wait", Usage: "wait for the policy transaction's confirmation and print its status"},
					timeoutFlag(),
				}, scopeFlags(true)...),
				Action: policySet,
			},
			{
				Name:  "show",
				Usage: "print the policies in force (or every version, with --all): each one's scope, version, transaction, authority and source",
				Flags: append([]cli.Flag{
					nodeURLFlag(),
					&cli.BoolFlag{Name: "all", Usage: "every version, not only the ones in force"},
					&cli.BoolFlag{Name: "json", Usage: "print GET /v1/policies's JSON instead"},
				}, scopeFlags(false)...),
				Action: policyShow,
			},
		},
	}
}

// readPolicyFile parses a policy file; a malformed one is a usage error.
func readPolicyFile(path string) (*policy.Source, error) {
	text, err := os.ReadFile(path)
	if err != nil {
		return nil, cli.Exit(err.Error(), 2)
	}
	src, err := policy.ParseFile(text)
	if err != nil {
		return nil, cli.Exit(fmt.Sprintf("%s: %s: %v", path, device.CodePolicyInvalid, err), 2)
	}
	return src, nil
}

// compileError is a policy that does not compile under lim, as a usage
// error that names the node's code.
func compileError(path string, err error) error {
	var pe *policy.Error
	if errors.As(err, &pe) {
		return cli.Exit(fmt.Sprintf("%s: %s: %s", path, pe.Code, pe.Message), 2)
	}
	return cli.Exit(fmt.Sprintf("%s: %s: %v", path, device.CodePolicyInvalid, err), 2)
}

func policySet(c *cli.Context) error {
	p, err := scopeArg(c, true)
	if err != nil {
		return err
	}
	if p.Source, err = readPolicyFile(c.String("file")); err != nil {
		return err
	}
	// The node compiles again with the network's cost limit, which may
	// be above the default: only a policy that does not compile at all
	// is refused here.
	if _, err := policy.Compile(p.Source, policy.Limits{MaxPayload: dag.DefaultMaxPayload}); err != nil && !policy.IsCode(err, device.CodePolicyTooCostly) {
		return compileError(c.String("file"), err)
	}
	key, cl, err := keyAndClient(c)
	if err != nil {
		return err
	}
	ctx, cancel := commandContext(c)
	defer cancel()
	id, err := client.NewAuthority(cl, key).SetPolicy(ctx, *p)
	if err != nil {
		return err
	}
	fmt.Fprintln(c.App.Writer, id)
	if !c.Bool("wait") {
		return waitAttached(ctx, cl, id)
	}
	st, err := cl.WaitConfirmed(ctx, id)
	if err != nil {
		return err
	}
	fmt.Fprintln(c.App.Writer, st.Status)
	return nil
}

func policyShow(c *cli.Context) error {
	p, err := scopeArg(c, false)
	if err != nil {
		return err
	}
	q := client.PolicyQuery{InForce: !c.Bool("all")}
	if p != nil {
		scope := p.Scope
		q.Scope = &scope
		q.Class = p.Class
		if p.Scope == client.ScopeDevice {
			q.Device = &p.Device
		}
	}
	cl, err := client.New(c.String("node"), client.Options{})
	if err != nil {
		return err
	}
	if q.Device != nil {
		// A key names the device too; the query wants the ID.
		d, err := cl.Device(c.Context, q.Device.String())
		if err != nil {
			return err
		}
		q.Device = &d.ID
	}
	policies, err := cl.Policies(c.Context, q)
	if err != nil {
		return err
	}
	if c.Bool("json") {
		return printJSON(c.App.Writer, map[string]any{"policies": policies})
	}
	names := map[dag.PublicKey]string{}
	if auths, err := cl.Authorities(c.Context); err == nil {
		for _, a := range auths.Authorities {
			names[a.PublicKey] = a.Name
		}
	}
	return printPolicies(c.App.Writer, policies, names)
}

// printPolicies writes each policy as a comment block (scope, version,
// transaction, authority) followed by its source, so that the output of
// one policy is a policy file again.
func printPolicies(w io.Writer, policies []client.PolicyInfo, names map[dag.PublicKey]string) error {
	if len(policies) == 0 {
		_, err := fmt.Fprintln(w, "# no policies")
		return err
	}
	for i, p := range policies {
		if i > 0 {
			fmt.Fprintln(w)
		}
		scope := p.Scope.String()
		switch {
		case p.Class != "":
			scope += " " + p.Class
		case p.Device != nil:
			scope += " " + p.Device.String()
		}
		state := "superseded"
		if p.InForce {
			state = "in force"
		}
		auth := p.Authority.String()
		if n := names[p.Authority]; n != "" {
			auth = n + " " + auth
		}
		fmt.Fprintf(w, "# %s: %s v%d (%s)\n", scope, p.Name, p.Version, state)
		fmt.Fprintf(w, "# transaction %s\n# authority %s\n", p.Transaction, auth)
		fmt.Fprintf(w, "# estimated cost %d\n", p.EstimatedCost)
		src := p.Source
		if !strings.HasSuffix(src, "\n") {
			src += "\n"
		}
		if _, err := io.WriteString(w, src); err != nil {
			return err
		}
	}
	return nil
}

func policyCommand() *cli.Command {
	return &cli.Command{
		Name:  "policy",
		Usage: "work with access policies offline",
		Subcommands: []*cli.Command{{
			Name: "test",
			Usage: "evaluate a policy on a transaction and a device as a node would; prints allow or deny with the cost and the reason; " +
				"exit 0 allow, 1 deny, 2 invalid policy or input",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "file", Required: true, Usage: "policy file"},
				&cli.StringFlag{Name: "tx", Required: true, Usage: "the transaction in the API's JSON form (device sign --json, or tx show's output)"},
				&cli.StringFlag{Name: "device", Required: true, Usage: "the device as device status prints it (GET /v1/devices/{id}), optionally with \"history\": {count, last_time, in_window}"},
				&cli.StringFlag{Name: "genesis", Usage: "genesis file whose policy_cost_limit and max_payload apply (default: the defaults)"},
			},
			Action: policyTest,
		}},
	}
}

func policyTest(c *cli.Context) error {
	src, err := readPolicyFile(c.String("file"))
	if err != nil {
		return err
	}
	lim := policy.Limits{MaxPayload: dag.DefaultMaxPayload}
	if path := c.String("genesis"); path != "" {
		g, err := dag.LoadGenesis(path)
		if err != nil {
			return cli.Exit(err.Error(), 2)
		}
		if g.MaxPayload > 0 {
			lim.MaxPayload = g.MaxPayload
		}
		lim.CostLimit = g.PolicyCostLimit
	}
	prog, err := policy.Compile(src, lim)
	if err != nil {
		return compileError(c.String("file"), err)
	}
	tx, err := readTransactionJSON(c.String("tx"))
	if err != nil {
		return cli.Exit(fmt.Sprintf("--tx %s: %v", c.String("tx"), err), 2)
	}
	dev, hist, hasHistory, err := readDeviceState(c.String("device"))
	if err != nil {
		return cli.Exit(fmt.Sprintf("--device %s: %v", c.String("device"), err), 2)
	}
	if !hasHistory && src.Reads&policy.ReadHistory != 0 {
		// A node reads these from the chain; a silent default could
		// allow what the node denies.
		fmt.Fprintf(c.App.ErrWriter, "tangled: %s has no \"history\": count is the transaction's seq, last_time and in_window 0\n", c.String("device"))
	}
	in, err := device.PolicyInput(tx, *dev, hist)
	if err != nil {
		return cli.Exit(fmt.Sprintf("--tx %s: %v", c.String("tx"), err), 2)
	}
	v := prog.Eval(in)
	_, bound := prog.EstimatedCost()
	what := fmt.Sprintf("policy %s v%d, cost %d (bound %d)", src.Name, src.Version, v.Cost, bound)
	if v.Allow {
		fmt.Fprintf(c.App.Writer, "allow: %s\n", what)
		return nil
	}
	why := "it evaluated to false"
	if v.Err != nil {
		why = v.Err.Error()
	}
	fmt.Fprintf(c.App.Writer, "deny: %s: %s\n", what, why)
	return cli.Exit(device.CodePolicyDenied, 1)
}

// readTransactionJSON reads a transaction in the API's JSON form, bare or
// as GET /v1/transactions/{id} wraps it, through the node's own decoder.
func readTransactionJSON(path string) (*dag.Transaction, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var wrapped struct {
		Transaction json.RawMessage `json:"transaction"`
	}
	if json.Unmarshal(data, &wrapped) == nil && len(wrapped.Transaction) > 0 && string(wrapped.Transaction) != "null" {
		data = wrapped.Transaction
	}
	raw, err := dag.DecodeJSON(data)
	if err != nil {
		return nil, err
	}
	return dag.Decode(raw, dag.MaxPayloadLimit)
}

// readDeviceState reads a device as GET /v1/devices/{id} writes it, and
// its optional "history" object: count, last_time (unix nanoseconds or an
// RFC 3339 time) and in_window.
func readDeviceState(path string) (*device.Device, policy.History, bool, error) {
	var hist policy.History
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, hist, false, err
	}
	dev, err := client.DecodeDevice(data)
	if err != nil {
		return nil, hist, false, err
	}
	var extra struct {
		History *struct {
			Count    uint64          `json:"count"`
			LastTime json.RawMessage `json:"last_time"`
			InWindow int64           `json:"in_window"`
		} `json:"history"`
	}
	if err := json.Unmarshal(data, &extra); err != nil {
		return nil, hist, false, err
	}
	h := extra.History
	if h != nil {
		hist.Count, hist.InWindow = h.Count, h.InWindow
		if hist.LastTime, err = parseLastTime(h.LastTime); err != nil {
			return nil, hist, false, err
		}
	}
	return dev, hist, h != nil, nil
}

func parseLastTime(v json.RawMessage) (int64, error) {
	if len(v) == 0 || string(v) == "null" {
		return 0, nil
	}
	var s string
	if json.Unmarshal(v, &s) == nil {
		return dag.ParseTime(s)
	}
	ns, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("history.last_time %s: want unix nanoseconds or an RFC 3339 time", v)
	}
	return ns, nil
}
