package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/evidence"
	"github.com/tangled-ledger/tangled/node"
)

// TestCLIEvidence: a reading of a registered device, its evidence and the
// device's fetched from a real node with `evidence get`, checked offline
// with `evidence verify` against the genesis alone; a bundle with one
// byte changed, or checked against another network's genesis, exits 1.
func TestCLIEvidence(t *testing.T) {
	dir := t.TempDir()
	if _, err := run(t, "genesis", "new", "--out", dir, "--network-id", "cli-evidence", "--authorities", "1", "--classes", "sensor", "--permissioned"); err != nil {
		t.Fatal(err)
	}
	genesis := filepath.Join(dir, node.GenesisFile)
	url := startNode(t, dir)
	key := filepath.Join(dir, "device.key")
	if _, err := run(t, "device", "keygen", "--out", key); err != nil {
		t.Fatal(err)
	}
	out, err := run(t, "authority", "register", "--node", url, "--key", filepath.Join(dir, node.AuthorityKeyFile(1)), "--device-key", key, "--class", "sensor")
	if err != nil {
		t.Fatal(err)
	}
	devID, _, _ := strings.Cut(out, "\n")
	out, err = run(t, "device", "send", "--node", url, "--key", key, "--data", "temperature=21.5", "--wait", "--timeout", "20s")
	if err != nil {
		t.Fatal(err)
	}
	txID := strings.Fields(out)[0]

	txFile := filepath.Join(dir, "reading.evidence.json")
	out, err = run(t, "evidence", "get", "--node", url, "--genesis", genesis, "--tx", txID, "--out", txFile, "--timeout", "30s")
	if err != nil {
		t.Fatalf("evidence get --tx: %v", err)
	}
	if !strings.Contains(out, "VERIFIED") || !strings.Contains(out, "transaction "+txID+": data") {
		t.Fatalf("evidence get printed %q", out)
	}
	out, err = run(t, "evidence", "verify", "--genesis", genesis, "--json", txFile)
	if err != nil {
		t.Fatalf("evidence verify: %v", err)
	}
	var p evidence.Proven
	if err := json.Unmarshal([]byte(out), &p); err != nil || len(p.Entries) != 1 || p.Entries[0].ID.String() != txID || p.Size == 0 || len(p.Signers) != 1 {
		t.Fatalf("verify --json: %+v, %v\n%s", p, err, out)
	}

	devFile := filepath.Join(dir, "device.evidence.json")
	// The registration was confirmed before the reading, so the reading's
	// checkpoint covers it.
	out, err = run(t, "evidence", "get", "--node", url, "--genesis", genesis, "--device", devID, "--out", devFile)
	if err != nil {
		t.Fatalf("evidence get --device: %v", err)
	}
	if !strings.Contains(out, "device "+devID+": class sensor") || !strings.Contains(out, "state active") {
		t.Fatalf("device evidence printed %q", out)
	}
	if _, err := run(t, "evidence", "verify", "--genesis", genesis, devFile); err != nil {
		t.Fatalf("verify the device's bundle: %v", err)
	}

	// Tampered: one digit of the log index.
	raw, err := os.ReadFile(txFile)
	if err != nil {
		t.Fatal(err)
	}
	i := strings.Index(string(raw), `"log_index":`) + len(`"log_index":`)
	tampered := append([]byte(nil), raw...)
	tampered[i] ^= 1
	bad := filepath.Join(dir, "tampered.json")
	if err := os.WriteFile(bad, tampered, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = run(t, "evidence", "verify", "--genesis", genesis, bad)
	var exit cli.ExitCoder
	if err == nil || !strings.Contains(err.Error(), "NOT VERIFIED") || !asExit(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("a tampered bundle: %v", err)
	}
	// Another network's genesis.
	other := t.TempDir()
	if _, err := run(t, "genesis", "new", "--out", other, "--network-id", "another"); err != nil {
		t.Fatal(err)
	}
	if _, err := run(t, "evidence", "verify", "--genesis", filepath.Join(other, node.GenesisFile), txFile); err == nil {
		t.Fatal("verified against another network's genesis")
	}
	if _, err := dag.LoadGenesis(genesis); err != nil {
		t.Fatal(err)
	}
}
