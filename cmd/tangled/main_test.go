package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/node"
)

func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := newApp(&out).Run(append([]string{"tangled"}, args...))
	return out.String(), err
}

// TestCLI drives the commands a newcomer uses against a real node:
// genesis new, device keygen, device send --wait, device sign, tx show.
func TestCLI(t *testing.T) {
	dir := t.TempDir()
	if out, err := run(t, "genesis", "new", "--out", dir, "--validators", "1", "--network-id", "cli-test"); err != nil || !strings.Contains(out, "network cli-test") {
		t.Fatalf("genesis new: %q, %v", out, err)
	}
	if _, err := run(t, "genesis", "new", "--out", dir); err == nil {
		t.Fatal("genesis new overwrote an existing genesis")
	}
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
	defer func() { cancel(); <-done }()
	url := "http://" + n.HTTPAddr()

	key := filepath.Join(dir, "device.key")
	if out, err := run(t, "device", "keygen", "--out", key); err != nil || len(strings.TrimSpace(out)) != 64 {
		t.Fatalf("keygen: %q, %v", out, err)
	}
	out, err := run(t, "device", "send", "--node", url, "--key", key, "--data", "temperature=21.5", "--wait", "--timeout", "20s")
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	lines := strings.Fields(out)
	if len(lines) != 2 || lines[1] != "confirmed" {
		t.Fatalf("send printed %q, want ID then confirmed", out)
	}
	id, err := dag.ParseID(lines[0])
	if err != nil {
		t.Fatalf("first line is not an ID: %v", err)
	}
	shown, err := run(t, "tx", "show", "--node", url, id.String())
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Status      string `json:"status"`
		Transaction struct {
			ID string `json:"id"`
		} `json:"transaction"`
	}
	if err := json.Unmarshal([]byte(shown), &st); err != nil || st.Status != "confirmed" || st.Transaction.ID != id.String() {
		t.Fatalf("tx show: %s (%v)", shown, err)
	}

	txFile := filepath.Join(dir, "tx.bin")
	out, err = run(t, "device", "sign", "--node", url, "--key", key, "--data", "humidity=40", "--out", txFile)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(txFile)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := dag.Decode(raw, dag.MaxPayloadLimit)
	if err != nil || tx.ID().String() != strings.TrimSpace(out) || tx.Seq != 1 {
		t.Fatalf("sign wrote %v (%v), printed %q", tx, err, out)
	}

	for _, bad := range [][]string{
		{"device", "send", "--node", url, "--key", key},
		{"device", "send", "--node", url, "--key", key, "--data", "a", "--file", txFile},
		{"tx", "show", "--node", url, "nothex"},
	} {
		if _, err := run(t, bad...); err == nil {
			t.Errorf("%v succeeded", bad)
		}
	}
}
