package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/tangled-ledger/tangled/client"
	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/dag/dagtest"
	"github.com/tangled-ledger/tangled/device"
	"github.com/tangled-ledger/tangled/internal/poll"
	"github.com/tangled-ledger/tangled/node"
)

// startPolicyNode runs a node of the genesis in dir as its first
// validator and returns it (the policy tests watch its tips) and its URL.
func startPolicyNode(t *testing.T, dir string) (*node.Node, string) {
	t.Helper()
	n, err := node.New(node.Config{
		DataDir: filepath.Join(dir, "data"), HTTPAddr: "127.0.0.1:0",
		GenesisFile: filepath.Join(dir, node.GenesisFile), KeyFile: filepath.Join(dir, node.ValidatorKeyFile(1)),
		BeaconInterval: 20 * time.Millisecond,
		Logger:         slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return n, "http://" + n.HTTPAddr()
}

// waitSeen waits until every tip of n has the policy transaction id in
// its past: a policy judges the transactions that see it, and the next
// one the CLI sends takes its parents from these tips.
func waitSeen(t *testing.T, n *node.Node, id dag.ID) {
	t.Helper()
	poll.Until(t, 20*time.Second, "every tip sees "+id.Short(), func() bool {
		l := n.Ledger()
		tips := l.Tips(nil)
		for _, tip := range tips {
			if !l.Sees(tip, id) {
				return false
			}
		}
		return len(tips) > 0
	})
}

func exitCode(err error) int {
	var ec cli.ExitCoder
	if errors.As(err, &ec) {
		return ec.ExitCode()
	}
	if err != nil {
		return 1
	}
	return 0
}

func examplePolicy(name string) string {
	return filepath.Join("..", "..", "examples", "policies", name)
}

func writeFile(t *testing.T, path, text string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestCLIPolicies drives access policies through the CLI against a real
// node: genesis new with a "*" authority and a cost limit, a class policy
// from examples/policies set with --wait, a device below its firmware
// floor refused (policy_denied), a new version that lowers the floor lets
// it post; the scope flags' usage errors; policy show.
func TestCLIPolicies(t *testing.T) {
	dir := t.TempDir()
	out, err := run(t, "genesis", "new", "--out", dir, "--network-id", "cli-policies", "--authorities", "2", "--classes", "*", "--permissioned", "--policy-cost-limit", "2000")
	if err != nil || !strings.Contains(out, "classes *") {
		t.Fatalf("genesis new: %q, %v", out, err)
	}
	g, err := dag.LoadGenesis(filepath.Join(dir, node.GenesisFile))
	if err != nil || g.PolicyCostLimit != 2000 || !g.Authorities[0].MayActOn("camera") || !strings.Contains(out, g.ID().String()) {
		t.Fatalf("genesis: %+v, %v (printed %q)", g, err, out)
	}
	if _, err := run(t, "genesis", "new", "--out", t.TempDir(), "--policy-cost-limit", "0"); exitCode(err) != 2 {
		t.Fatalf("--policy-cost-limit 0: %v", err)
	}
	n, url := startPolicyNode(t, dir)
	auth := filepath.Join(dir, node.AuthorityKeyFile(1))
	cam := filepath.Join(dir, "cam.key")
	if _, err := run(t, "device", "keygen", "--out", cam); err != nil {
		t.Fatal(err)
	}
	out, err = run(t, "authority", "register", "--node", url, "--key", auth, "--device-key", cam, "--class", "camera", "--attr", "firmware=3")
	if err != nil {
		t.Fatalf("register: %v", err)
	}
	camID, _, _ := strings.Cut(out, "\n")

	floor := examplePolicy("firmware-floor.cel")
	set := func(args ...string) (string, error) {
		return run(t, append([]string{"authority", "policy", "set", "--node", url, "--key", auth, "--timeout", "20s"}, args...)...)
	}
	for _, bad := range [][]string{
		{"--file", floor},
		{"--file", floor, "--class", "camera", "--network"},
		{"--file", floor, "--class", "Camera"},
		{"--file", floor, "--device", "nothex"},
		{"--file", writeFile(t, filepath.Join(dir, "noheader.cel"), "true\n"), "--network"},
		{"--file", writeFile(t, filepath.Join(dir, "iter.cel"), "// name: iter\n// version: 1\n// reads: device\ndevice.attributes.all(k, k != \"x\")\n"), "--network"},
	} {
		if _, err := set(bad...); exitCode(err) != 2 {
			t.Errorf("policy set %v: %v, want a usage error", bad, err)
		}
	}

	out, err = set("--class", "camera", "--file", floor, "--wait")
	if err != nil {
		t.Fatalf("policy set: %v", err)
	}
	lines := strings.Fields(out)
	if len(lines) != 2 || lines[1] != "confirmed" {
		t.Fatalf("policy set --wait printed %q", out)
	}
	v1, err := dag.ParseID(lines[0])
	if err != nil {
		t.Fatal(err)
	}
	waitSeen(t, n, v1)
	send := func() error {
		_, err := run(t, "device", "send", "--node", url, "--key", cam, "--data", "frame", "--timeout", "20s")
		return err
	}
	if err := send(); err == nil || !strings.Contains(err.Error(), device.CodePolicyDenied) || !strings.Contains(err.Error(), v1.String()) {
		t.Fatalf("firmware 3 under floor 4: %v, want %s naming %s", err, device.CodePolicyDenied, v1)
	}
	if _, err := set("--class", "camera", "--file", floor); err == nil || !strings.Contains(err.Error(), device.CodePolicyOutdated) {
		t.Fatalf("the same version again: %v, want %s", err, device.CodePolicyOutdated)
	}
	text, err := os.ReadFile(floor)
	if err != nil {
		t.Fatal(err)
	}
	lowered := strings.Replace(strings.Replace(string(text), "// version: 1", "// version: 2", 1), "device.firmware >= 4", "device.firmware >= 3", 1)
	out, err = set("--class", "camera", "--file", writeFile(t, filepath.Join(dir, "floor-v2.cel"), lowered))
	if err != nil {
		t.Fatalf("policy set v2: %v", err)
	}
	v2, err := dag.ParseID(strings.TrimSpace(out))
	if err != nil {
		t.Fatalf("policy set printed %q", out)
	}
	waitSeen(t, n, v2)
	if err := send(); err != nil {
		t.Fatalf("firmware 3 under floor 3: %v", err)
	}

	show := func(args ...string) string {
		t.Helper()
		out, err := run(t, append([]string{"authority", "policy", "show", "--node", url}, args...)...)
		if err != nil {
			t.Fatalf("policy show %v: %v", args, err)
		}
		return out
	}
	out = show()
	for _, want := range []string{"# class camera: firmware-floor v2 (in force)", "# transaction " + v2.String(),
		"# authority authority-1 " + publicKeyOf(t, auth).String(), "// version: 2", "device.firmware >= 3"} {
		if !strings.Contains(out, want) {
			t.Errorf("policy show lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, v1.String()) {
		t.Errorf("policy show lists the superseded version:\n%s", out)
	}
	out = show("--all", "--class", "camera")
	if i, j := strings.Index(out, "firmware-floor v1 (superseded)"), strings.Index(out, "firmware-floor v2 (in force)"); i < 0 || j < i {
		t.Errorf("policy show --all: want v1 superseded, then v2 in force:\n%s", out)
	}
	if out := show("--network"); strings.TrimSpace(out) != "# no policies" {
		t.Errorf("policy show --network: %q", out)
	}
	var listed struct {
		Policies []json.RawMessage `json:"policies"`
	}
	if err := json.Unmarshal([]byte(show("--json", "--all")), &listed); err != nil || len(listed.Policies) != 2 {
		t.Errorf("policy show --json --all: %+v, %v", listed, err)
	}
	if _, err := run(t, "authority", "policy", "show", "--node", url, "--class", "camera", "--network"); exitCode(err) != 2 {
		t.Errorf("show with two scopes: %v", err)
	}

	// A device policy with a node-work allowance: device send --node-work.
	mcu := filepath.Join(dir, "mcu.key")
	if _, err := run(t, "device", "keygen", "--out", mcu); err != nil {
		t.Fatal(err)
	}
	out, err = run(t, "authority", "register", "--node", url, "--key", auth, "--device-key", mcu, "--class", "meter")
	if err != nil {
		t.Fatal(err)
	}
	mcuID, _, _ := strings.Cut(out, "\n")
	grant := writeFile(t, filepath.Join(dir, "grant.cel"), "// name: mcu\n// version: 1\n// reads: tx\n// node-work: 5/1h\ntx.size <= 64\n")
	if _, err := set("--device", mcuID, "--file", grant, "--wait"); err != nil {
		t.Fatalf("device policy: %v", err)
	}
	if out := show("--device", mcuID); !strings.Contains(out, "# device "+mcuID+": mcu v1 (in force)") || !strings.Contains(out, "// node-work: 5/1h0m0s") {
		t.Errorf("policy show --device:\n%s", out)
	}
	if _, err := run(t, "device", "send", "--node", url, "--key", mcu, "--data", "reading", "--node-work", "--timeout", "20s"); err != nil {
		t.Fatalf("send --node-work: %v", err)
	}
	if _, err := run(t, "device", "send", "--node", url, "--key", cam, "--data", "x", "--node-work", "--timeout", "20s"); err == nil || !strings.Contains(err.Error(), client.CodeNodeWorkRefused) {
		t.Fatalf("send --node-work without an allowance: %v", err)
	}

	// The device lists the policy that judges it now: v2.
	out, err = run(t, "device", "status", "--node", url, camID)
	if err != nil {
		t.Fatal(err)
	}
	d, err := client.DecodeDevice([]byte(out))
	if err != nil || len(d.Policies) != 1 || d.Policies[0].Transaction != v2 || d.Policies[0].Version != 2 {
		t.Fatalf("device status: %+v, %v", d, err)
	}
}

// TestCLIPolicyTest evaluates policies offline as a node would: the
// firmware floor denies firmware 3 and a lowered floor allows it, the
// thermostat judges the history given with the device, a policy over the
// default cost limit fits a genesis that raises it, and invalid policies
// and inputs exit 2.
func TestCLIPolicyTest(t *testing.T) {
	dir := t.TempDir()
	key := dagtest.Key("policy-test-device")
	tx := &dag.Transaction{Kind: dag.KindData, Trunk: dag.ID{1}, Branch: dag.ID{2}, Seq: 7, Prev: dag.ID{3},
		Time: time.Date(2026, 12, 2, 9, 30, 0, 0, time.UTC).UnixNano(), Payload: []byte("21.5C")}
	tx.Sign(key)
	txJSON, err := json.Marshal(tx)
	if err != nil {
		t.Fatal(err)
	}
	txFile := writeFile(t, filepath.Join(dir, "tx.json"), string(txJSON))
	// As tx show prints it: wrapped, with a status.
	wrappedFile := writeFile(t, filepath.Join(dir, "status.json"), `{"transaction": `+string(txJSON)+`, "status": "pending"}`)

	var pub dag.PublicKey
	copy(pub[:], key[32:])
	state := func(history string) string {
		dev := device.Device{ID: dag.ID{9}, Class: "camera", Owner: dag.PublicKey{8}, State: "active", Key: pub,
			Attributes: map[string]string{"firmware": "3"}, Keys: []device.KeyRecord{}, Control: []device.ControlRecord{},
			Policies: []device.PolicyRef{{Transaction: dag.ID{4}, Scope: device.ScopeClass, Class: "camera", Name: "firmware-floor", Version: 1}}}
		data, err := json.Marshal(dev)
		if err != nil {
			t.Fatal(err)
		}
		if history != "" {
			data = append(data[:len(data)-1], []byte(`,"history":`+history+`}`)...)
		}
		return writeFile(t, filepath.Join(dir, "state.json"), string(data))
	}
	ptest := func(file, txPath, statePath string, extra ...string) (string, int) {
		t.Helper()
		out, err := run(t, append([]string{"policy", "test", "--file", file, "--tx", txPath, "--device", statePath}, extra...)...)
		if err != nil {
			out += err.Error()
		}
		return out, exitCode(err)
	}
	expect := func(what, out string, code int, wantCode int, want ...string) {
		t.Helper()
		if code != wantCode {
			t.Errorf("%s: exit %d, want %d (%s)", what, code, wantCode, out)
		}
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Errorf("%s: %q lacks %q", what, out, w)
			}
		}
	}

	out, code := ptest(examplePolicy("firmware-floor.cel"), txFile, state(""))
	expect("floor 4, firmware 3", out, code, 1, "deny: policy firmware-floor v1, cost ", "it evaluated to false", device.CodePolicyDenied)
	lowered := writeFile(t, filepath.Join(dir, "floor3.cel"), "// name: floor\n// version: 2\n// reads: device\ndevice.firmware >= 3\n")
	out, code = ptest(lowered, wrappedFile, state(""))
	expect("floor 3, firmware 3", out, code, 0, "allow: policy floor v2, cost ")

	// The thermostat: a reading 5 s after the last one is denied, one 11 s
	// after allowed; last_time as unix nanoseconds or RFC 3339.
	thermo := examplePolicy("thermostat.cel")
	out, code = ptest(thermo, txFile, state(`{"count": 7, "last_time": "`+dag.FormatTime(tx.Time-5e9)+`", "in_window": 1}`))
	expect("thermostat, 5 s", out, code, 1, "deny: policy thermostat v1")
	out, code = ptest(thermo, txFile, state(`{"count": 7, "last_time": `+strconv.FormatInt(tx.Time-11e9, 10)+`}`))
	expect("thermostat, 11 s", out, code, 0, "allow: policy thermostat v1")

	// A policy whose bound is over the default 1,000 but within a genesis
	// that allows 2,000.
	costly := writeFile(t, filepath.Join(dir, "scan.cel"), "// name: scan\n// version: 1\n// reads: tx\n"+
		`string(tx.payload).contains("a") && string(tx.payload).contains("b") && string(tx.payload).contains("c")`+"\n")
	out, code = ptest(costly, txFile, state(""))
	expect("costly, default limit", out, code, 2, device.CodePolicyTooCostly)
	gdir := t.TempDir()
	if _, err := run(t, "genesis", "new", "--out", gdir, "--policy-cost-limit", "2000"); err != nil {
		t.Fatal(err)
	}
	out, code = ptest(costly, txFile, state(""), "--genesis", filepath.Join(gdir, node.GenesisFile))
	expect("costly, limit 2000", out, code, 1, "deny: policy scan v1")

	iter := writeFile(t, filepath.Join(dir, "iter.cel"), "// name: iter\n// version: 1\n// reads: device\ndevice.attributes.all(k, k != \"x\")\n")
	out, code = ptest(iter, txFile, state(""))
	expect("map iteration", out, code, 2, device.CodePolicyInvalid)
	undeclared := writeFile(t, filepath.Join(dir, "undeclared.cel"), "// name: u\n// version: 1\n// reads: tx\ndevice.firmware > 1\n")
	out, code = ptest(undeclared, txFile, state(""))
	expect("reads what it did not declare", out, code, 2, device.CodePolicyInvalid)
	out, code = ptest(lowered, writeFile(t, filepath.Join(dir, "bad-tx.json"), `{"kind": "data"}`), state(""))
	expect("a malformed transaction", out, code, 2, "--tx")
	out, code = ptest(lowered, txFile, writeFile(t, filepath.Join(dir, "bad-state.json"), `{"policies": [{"scope": "planet"}]}`))
	expect("a malformed device", out, code, 2, "--device")
	out, code = ptest(lowered, txFile, state(`{"last_time": "yesterday"}`))
	expect("a malformed last_time", out, code, 2, "--device")
}
