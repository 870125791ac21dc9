package main

import (
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tangled-ledger/tangled/client"
	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/device"
	"github.com/tangled-ledger/tangled/node"
)

// startNode runs a node of the genesis in dir as its first validator and
// returns its URL.
func startNode(t *testing.T, dir string) string {
	t.Helper()
	_, url := startPolicyNode(t, dir)
	return url
}

func publicKeyOf(t *testing.T, path string) dag.PublicKey {
	t.Helper()
	key, err := client.LoadKey(path)
	if err != nil {
		t.Fatal(err)
	}
	var pk dag.PublicKey
	copy(pk[:], key.Public().(ed25519.PublicKey))
	return pk
}

// TestCLIAuthority drives a device's life through the CLI against a real
// node of a permissioned network with two authorities: register, send,
// suspend (send refused), resume, rotation to the committed key (another
// key refused), transfer, revoke by the former owner refused, revoke by
// the new one (send refused), then status and history.
func TestCLIAuthority(t *testing.T) {
	dir := t.TempDir()
	out, err := run(t, "genesis", "new", "--out", dir, "--network-id", "cli-devices", "--authorities", "2", "--classes", "sensor,meter", "--permissioned")
	if err != nil {
		t.Fatalf("genesis new: %v", err)
	}
	for _, want := range []string{"2 authorities (permissioned)", filepath.Join(dir, "authority-1.key"), filepath.Join(dir, "authority-2.key"), "authority-2 ", "classes sensor,meter"} {
		if !strings.Contains(out, want) {
			t.Fatalf("genesis new printed %q, want %q in it", out, want)
		}
	}
	g, err := dag.LoadGenesis(filepath.Join(dir, node.GenesisFile))
	if err != nil || !g.Permissioned || len(g.Authorities) != 2 || g.Authorities[1].Name != "authority-2" {
		t.Fatalf("genesis: %+v, %v", g, err)
	}
	url := startNode(t, dir)
	auth1, auth2 := filepath.Join(dir, node.AuthorityKeyFile(1)), filepath.Join(dir, node.AuthorityKeyFile(2))
	auth2Pub := publicKeyOf(t, auth2)
	if g.Authorities[1].PublicKey != auth2Pub {
		t.Fatal("authority-2.key is not the genesis's authority-2")
	}

	keys := map[string]string{}
	for _, name := range []string{"device", "next", "other"} {
		keys[name] = filepath.Join(dir, name+".key")
		if _, err := run(t, "device", "keygen", "--out", keys[name]); err != nil {
			t.Fatal(err)
		}
	}
	nextPub := publicKeyOf(t, keys["next"])
	nextHash := device.KeyHash(nextPub)

	deviceJSON := func(what, out string) device.Device {
		t.Helper()
		var d device.Device
		if err := json.Unmarshal([]byte(out), &d); err != nil {
			t.Fatalf("%s: not a device's JSON: %v\n%s", what, err, out)
		}
		return d
	}
	out, err = run(t, "authority", "register", "--node", url, "--key", auth1, "--device-key", keys["device"], "--class", "sensor",
		"--attr", "site=north,east", "--attr", "serial=42", "--next-key-hash", hex.EncodeToString(nextHash[:]))
	if err != nil {
		t.Fatalf("register: %v", err)
	}
	first, rest, _ := strings.Cut(out, "\n")
	id, err := dag.ParseID(first)
	if err != nil {
		t.Fatalf("register printed %q first, not an ID: %v", first, err)
	}
	d := deviceJSON("register", rest)
	if d.ID != id || d.State != "active" || d.Class != "sensor" || d.Attributes["site"] != "north,east" || d.Attributes["serial"] != "42" ||
		d.Key != publicKeyOf(t, keys["device"]) || d.Keys[0].NextKeyHash == nil || *d.Keys[0].NextKeyHash != device.Hash(nextHash) {
		t.Fatalf("registered device: %+v", d)
	}

	send := func(key, data string) error {
		t.Helper()
		_, err := run(t, "device", "send", "--node", url, "--key", key, "--data", data, "--timeout", "20s")
		return err
	}
	refused := func(err error, code string) {
		t.Helper()
		if err == nil || !strings.Contains(err.Error(), code) {
			t.Fatalf("got %v, want an error with %s", err, code)
		}
	}
	act := func(verb, key string, extra ...string) (device.Device, error) {
		t.Helper()
		out, err := run(t, append([]string{"authority", verb, "--node", url, "--key", key, "--device", id.String()}, extra...)...)
		if err != nil {
			return device.Device{}, err
		}
		return deviceJSON(verb, out), nil
	}
	if err := send(keys["device"], "reading 1"); err != nil {
		t.Fatalf("send: %v", err)
	}
	if d, err := act("suspend", auth1); err != nil || d.State != "suspended" {
		t.Fatalf("suspend: %+v, %v", d, err)
	}
	refused(send(keys["device"], "reading while suspended"), device.CodeSuspended)
	if d, err := act("resume", auth1); err != nil || d.State != "active" {
		t.Fatalf("resume: %+v, %v", d, err)
	}
	if err := send(keys["device"], "reading 2"); err != nil {
		t.Fatalf("send after resume: %v", err)
	}

	_, err = run(t, "device", "rotate", "--node", url, "--key", keys["device"], "--new-key", keys["other"])
	refused(err, device.CodeKeyNotCommitted)
	out, err = run(t, "device", "rotate", "--node", url, "--key", keys["device"], "--new-key", keys["next"])
	if err != nil {
		t.Fatalf("rotate: %v", err)
	}
	if d := deviceJSON("rotate", out); d.ID != id || d.Key != nextPub || len(d.Keys) != 2 || d.Keys[1].Since != 3 {
		t.Fatalf("rotated device: %+v", d)
	}
	if err := send(keys["next"], "reading 3, new key"); err != nil {
		t.Fatalf("send with the new key: %v", err)
	}

	if d, err := act("transfer", auth1, "--to", auth2Pub.String()); err != nil || d.Owner != auth2Pub {
		t.Fatalf("transfer: %+v, %v", d, err)
	}
	_, err = act("revoke", auth1)
	refused(err, device.CodeNotOwner)
	if d, err := act("revoke", auth2); err != nil || d.State != "revoked" || len(d.Control) != 4 {
		t.Fatalf("revoke: %+v, %v", d, err)
	}
	refused(send(keys["next"], "reading after revocation"), device.CodeRevoked)

	for _, ref := range []string{id.String(), nextPub.String()} {
		out, err := run(t, "device", "status", "--node", url, ref)
		if err != nil {
			t.Fatalf("status %s: %v", ref, err)
		}
		if d := deviceJSON("status", out); d.ID != id || d.State != "revoked" || d.Owner != auth2Pub {
			t.Fatalf("status %s: %+v", ref, d)
		}
	}

	history := func(args ...string) client.DeviceHistory {
		t.Helper()
		out, err := run(t, append(append([]string{"device", "history", "--node", url}, args...), id.String())...)
		if err != nil {
			t.Fatalf("history %v: %v", args, err)
		}
		var h client.DeviceHistory
		if err := json.Unmarshal([]byte(out), &h); err != nil {
			t.Fatalf("history %v: %v\n%s", args, err, out)
		}
		return h
	}
	all := history()
	var kinds []string
	for i, tx := range all.Transactions {
		if tx.Seq != uint64(i) {
			t.Fatalf("history item %d has seq %d", i, tx.Seq)
		}
		kinds = append(kinds, tx.Kind)
	}
	if all.Device != id || all.NextCursor != "" || strings.Join(kinds, ",") != "data,data,rotate,data" {
		t.Fatalf("history: %+v (kinds %v)", all, kinds)
	}
	page := history("--limit", "3")
	if len(page.Transactions) != 3 || page.NextCursor == "" {
		t.Fatalf("first page: %+v", page)
	}
	last := history("--limit", "3", "--cursor", page.NextCursor)
	if len(last.Transactions) != 1 || last.NextCursor != "" || last.Transactions[0].ID != all.Transactions[3].ID {
		t.Fatalf("second page: %+v", last)
	}
	if mid := history("--from-seq", "1", "--to-seq", "2"); len(mid.Transactions) != 2 || mid.Transactions[0].Seq != 1 {
		t.Fatalf("seq 1 to 2: %+v", mid)
	}

	out, err = run(t, "authority", "list", "--node", url)
	var auths client.Authorities
	if err != nil || json.Unmarshal([]byte(out), &auths) != nil || !auths.Permissioned || len(auths.Authorities) != 2 || auths.Authorities[1].Devices != 1 {
		t.Fatalf("authority list: %s, %v", out, err)
	}

	for _, bad := range [][]string{
		{"device", "status", "--node", url},
		{"device", "status", "--node", url, "nothex"},
		{"device", "status", "--node", url, dag.ID{1}.String()},
		{"device", "history", "--node", url, "--cursor", "3", id.String()},
		{"authority", "register", "--node", url, "--key", auth1, "--device-key", keys["other"], "--class", "sensor", "--next-key-hash", "abc"},
		{"authority", "register", "--node", url, "--key", auth1, "--device-key", "nothex", "--class", "sensor"},
		{"authority", "register", "--node", url, "--key", auth1, "--device-key", keys["other"], "--class", "sensor", "--attr", "novalue"},
		{"authority", "register", "--node", url, "--key", auth1, "--device-key", keys["other"], "--class", "camera"},
		{"authority", "transfer", "--node", url, "--key", auth2, "--device", id.String(), "--to", "authority-9"},
		{"authority", "suspend", "--node", url, "--key", auth2, "--device", "nothex"},
	} {
		if _, err := run(t, bad...); err == nil {
			t.Errorf("%v succeeded", bad)
		}
	}
}

// TestCLIRegisterByPublicKey: register takes the device's public key in
// hex as well as a key file, --next-key computes the commitment, --to a
// genesis name, and --wait waits for the confirmation.
func TestCLIRegisterByPublicKey(t *testing.T) {
	dir := t.TempDir()
	if _, err := run(t, "genesis", "new", "--out", dir, "--authorities", "2"); err != nil {
		t.Fatal(err)
	}
	url := startNode(t, dir)
	devKey, nextKey := filepath.Join(dir, "device.key"), filepath.Join(dir, "next.key")
	for _, k := range []string{devKey, nextKey} {
		if _, err := run(t, "device", "keygen", "--out", k); err != nil {
			t.Fatal(err)
		}
	}
	devPub := publicKeyOf(t, devKey)
	out, err := run(t, "authority", "register", "--node", url, "--key", filepath.Join(dir, node.AuthorityKeyFile(1)),
		"--device-key", devPub.String(), "--class", "sensor", "--next-key", nextKey, "--wait", "--timeout", "20s")
	if err != nil {
		t.Fatalf("register: %v", err)
	}
	first, rest, _ := strings.Cut(out, "\n")
	var d device.Device
	if err := json.Unmarshal([]byte(rest), &d); err != nil || d.ID.String() != first || d.Key != devPub ||
		d.Keys[0].NextKeyHash == nil || *d.Keys[0].NextKeyHash != device.Hash(device.KeyHash(publicKeyOf(t, nextKey))) {
		t.Fatalf("register printed %s (%v)", out, err)
	}
	// An open network: the device writes, registered or not.
	if _, err := run(t, "device", "send", "--node", url, "--key", devKey, "--data", "x"); err != nil {
		t.Fatal(err)
	}
	out, err = run(t, "authority", "transfer", "--node", url, "--key", filepath.Join(dir, node.AuthorityKeyFile(1)), "--device", first, "--to", "authority-2")
	if err != nil {
		t.Fatalf("transfer by name: %v", err)
	}
	if err := json.Unmarshal([]byte(out), &d); err != nil || d.Owner != publicKeyOf(t, filepath.Join(dir, node.AuthorityKeyFile(2))) {
		t.Fatalf("transfer by name: %s (%v)", out, err)
	}
}
