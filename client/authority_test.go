package client_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/tangled-ledger/tangled/client"
	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/device"
	"github.com/tangled-ledger/tangled/internal/poll"
	"github.com/tangled-ledger/tangled/node"
	"github.com/tangled-ledger/tangled/pow"
)

// authorityRules keep the work cheap (256 hashes) with the rate rule on.
var authorityRules = pow.Rules{BaseBits: 8, PayloadBytesPerBit: 512, RateWindow: 10 * time.Second, FreePerWindow: 1000, BitsPerExcess: 1, MaxBits: 24}

// authorityNode starts a real node of a permissioned network with two
// authorities (authority-1.key and authority-2.key in dir, classes sensor
// and meter) and returns its URL and stop function.
func authorityNode(dir string, rules *pow.Rules) (url string, stop func(), err error) {
	if _, err := node.NewGenesis(dir, node.GenesisOptions{
		NetworkID: "authorities", Authorities: 2, Classes: []string{"sensor", "meter"}, Permissioned: true, Difficulty: rules,
	}); err != nil {
		return "", nil, err
	}
	n, err := node.New(node.Config{
		DataDir: filepath.Join(dir, "node"), HTTPAddr: "127.0.0.1:0",
		GenesisFile: filepath.Join(dir, node.GenesisFile), KeyFile: filepath.Join(dir, node.ValidatorKeyFile(1)),
		BeaconInterval: 20 * time.Millisecond,
		Logger:         slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		return "", nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	return "http://" + n.HTTPAddr(), func() { cancel(); <-done }, nil
}

func newTestKey(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	key, err := client.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func pubOf(key ed25519.PrivateKey) dag.PublicKey {
	var pk dag.PublicKey
	copy(pk[:], key.Public().(ed25519.PublicKey))
	return pk
}

func codeOf(err error) string {
	var apiErr *client.APIError
	if errors.As(err, &apiErr) {
		return apiErr.Code
	}
	return ""
}

// TestAuthorityLifecycle walks a device through its life on a real node:
// register, data, suspend (data refused), resume (data accepted),
// rotation to a committed key (another key refused), transfer to a second
// authority (the first may no longer act), revocation (data refused);
// then the device's status, history and the authorities as the client
// reads them.
func TestAuthorityLifecycle(t *testing.T) {
	dir := t.TempDir()
	url, stop, err := authorityNode(dir, &authorityRules)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	c, err := client.New(url, client.Options{MinBackoff: time.Millisecond, MaxBackoff: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	loadAuthority := func(i int) *client.Authority {
		key, err := client.LoadKey(filepath.Join(dir, node.AuthorityKeyFile(i)))
		if err != nil {
			t.Fatal(err)
		}
		return client.NewAuthority(c, key)
	}
	auth1, auth2 := loadAuthority(1), loadAuthority(2)

	auths, err := c.Authorities(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !auths.Permissioned || len(auths.Authorities) != 2 || auths.Authorities[0].Name != "authority-1" ||
		auths.Authorities[0].PublicKey != auth1.PublicKey() || auths.Authorities[1].PublicKey != auth2.PublicKey() ||
		!slices.Equal(auths.Authorities[1].Classes, []string{"sensor", "meter"}) {
		t.Fatalf("authorities: %+v", auths)
	}

	if _, err := client.NewDevice(c, newTestKey(t)).Send(ctx, dag.KindData, []byte("hello")); codeOf(err) != device.CodeUnregistered {
		t.Fatalf("unregistered key: %v, want %s", err, device.CodeUnregistered)
	}

	devKey, nextKey, otherKey := newTestKey(t), newTestKey(t), newTestKey(t)
	nextHash := client.KeyHash(pubOf(nextKey))
	id, err := auth1.Register(ctx, client.Registration{
		Key: pubOf(devKey), NextKeyHash: &nextHash, Class: "sensor",
		Attributes: []client.Attribute{{Key: "site", Value: "north"}, {Key: "serial", Value: "42"}},
	})
	if err != nil {
		t.Fatalf("register: %v", err)
	}
	if _, err := auth1.Register(ctx, client.Registration{Key: pubOf(otherKey), Class: "Bad Class"}); !errors.Is(err, device.ErrPayload) {
		t.Fatalf("register with a malformed class: %v, want %v", err, device.ErrPayload)
	}
	waitState := func(what string, cond func(d *device.Device) bool) *device.Device {
		t.Helper()
		var d *device.Device
		poll.Until(t, 20*time.Second, what, func() bool {
			var err error
			d, err = c.Device(ctx, id.String())
			return err == nil && cond(d)
		})
		return d
	}
	d := waitState("device registered", func(d *device.Device) bool { return d.State == "active" })
	if d.ID != id || d.Owner != auth1.PublicKey() || d.RegisteredBy != auth1.PublicKey() || d.Class != "sensor" ||
		d.Key != pubOf(devKey) || d.Attributes["serial"] != "42" || d.Attributes["site"] != "north" {
		t.Fatalf("registered device: %+v", d)
	}

	dev := client.NewDevice(c, devKey)
	send := func(what string) dag.ID {
		t.Helper()
		txID, err := dev.Send(ctx, dag.KindData, []byte(what))
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return txID
	}
	refused := func(what, code string) {
		t.Helper()
		if _, err := dev.Send(ctx, dag.KindData, []byte(what)); codeOf(err) != code {
			t.Fatalf("%s: %v, want %s", what, err, code)
		}
		if p := dev.Pending(); p != nil {
			t.Fatalf("%s: the refused transaction is still pending", what)
		}
	}
	var accepted []dag.ID
	accepted = append(accepted, send("reading 1"))

	suspension, err := auth1.Suspend(ctx, id)
	if err != nil {
		t.Fatalf("suspend: %v", err)
	}
	waitState("device suspended", func(d *device.Device) bool { return d.State == "suspended" })
	refused("reading while suspended", device.CodeSuspended)
	if _, err := auth1.Suspend(ctx, id); codeOf(err) != device.CodeInvalidTransition {
		t.Fatalf("second suspend: %v, want %s", err, device.CodeInvalidTransition)
	}
	resumption, err := auth1.Resume(ctx, id)
	if err != nil {
		t.Fatalf("resume: %v", err)
	}
	waitState("device resumed", func(d *device.Device) bool { return d.State == "active" })
	accepted = append(accepted, send("reading 2"))

	if _, err := dev.Rotate(ctx, otherKey, nil); codeOf(err) != device.CodeKeyNotCommitted {
		t.Fatalf("rotation to an uncommitted key: %v, want %s", err, device.CodeKeyNotCommitted)
	}
	if dev.PublicKey() != pubOf(devKey) || dev.Pending() != nil {
		t.Fatal("a refused rotation switched the key or stayed pending")
	}
	rotation, err := dev.Rotate(ctx, nextKey, nil)
	if err != nil {
		t.Fatalf("rotation: %v", err)
	}
	accepted = append(accepted, rotation)
	if dev.PublicKey() != pubOf(nextKey) {
		t.Fatal("Rotate did not switch the device to the new key")
	}
	accepted = append(accepted, send("reading 3, new key"))
	d = waitState("device rotated", func(d *device.Device) bool { return d.Key == pubOf(nextKey) })
	if len(d.Keys) != 2 || d.Keys[1].Transaction != rotation || d.Keys[1].Since != 3 || d.Keys[0].NextKeyHash == nil ||
		*d.Keys[0].NextKeyHash != device.Hash(nextHash) {
		t.Fatalf("keys after rotation: %+v", d.Keys)
	}
	if _, err := client.NewDevice(c, devKey).Send(ctx, dag.KindData, []byte("old key")); err == nil {
		t.Fatal("the old key still writes after the rotation")
	}
	// A fresh process with the new key continues the chain.
	fresh, err := client.NewDevice(c, nextKey).Send(ctx, dag.KindData, []byte("reading 4, fresh process"))
	if err != nil {
		t.Fatalf("fresh device with the new key: %v", err)
	}
	accepted = append(accepted, fresh)
	byKey, err := c.Device(ctx, pubOf(nextKey).String())
	if err != nil || byKey.ID != id {
		t.Fatalf("device by its new key: %+v, %v", byKey, err)
	}

	transfer, err := auth1.Transfer(ctx, id, auth2.PublicKey())
	if err != nil {
		t.Fatalf("transfer: %v", err)
	}
	waitState("device transferred", func(d *device.Device) bool { return d.Owner == auth2.PublicKey() })
	if _, err := auth1.Revoke(ctx, id); codeOf(err) != device.CodeNotOwner {
		t.Fatalf("revoke by the former owner: %v, want %s", err, device.CodeNotOwner)
	}
	revocation, err := auth2.Revoke(ctx, id)
	if err != nil {
		t.Fatalf("revoke by the new owner: %v", err)
	}
	d = waitState("device revoked", func(d *device.Device) bool { return d.State == "revoked" })
	refused("reading after revocation", device.CodeRevoked)

	var control []dag.ID
	for _, rec := range d.Control {
		control = append(control, rec.Transaction)
	}
	if want := []dag.ID{suspension, resumption, transfer, revocation}; !slices.Equal(control, want) {
		t.Fatalf("control history %v, want %v", control, want)
	}
	if d.Control[2].Kind != dag.KindTransfer || d.Control[2].To == nil || *d.Control[2].To != auth2.PublicKey() ||
		d.Control[3].Authority != auth2.PublicKey() {
		t.Fatalf("control records: %+v", d.Control)
	}

	// History: one page, then page by page through the iterator.
	page, err := c.DeviceHistory(ctx, id, client.HistoryQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if page.Device != id || page.NextCursor != "" || len(page.Transactions) != len(accepted) {
		t.Fatalf("history: %+v, want %d transactions", page, len(accepted))
	}
	for i, tx := range page.Transactions {
		wantKind := "data"
		if tx.ID == rotation {
			wantKind = "rotate"
		}
		if tx.ID != accepted[i] || tx.Seq != uint64(i) || tx.Kind != wantKind || tx.Time.IsZero() {
			t.Fatalf("history item %d: %+v, want %s", i, tx, accepted[i])
		}
	}
	if page.Transactions[3].Issuer != pubOf(nextKey) || page.Transactions[2].Issuer != pubOf(devKey) {
		t.Fatalf("issuers around the rotation: %+v", page.Transactions)
	}
	first, err := c.DeviceHistory(ctx, id, client.HistoryQuery{Limit: 3})
	if err != nil || len(first.Transactions) != 3 || first.NextCursor == "" {
		t.Fatalf("first page of 3: %+v, %v", first, err)
	}
	var walked []dag.ID
	for tx, err := range c.DeviceTransactions(ctx, id, client.HistoryQuery{Limit: 1}) {
		if err != nil {
			t.Fatal(err)
		}
		walked = append(walked, tx.ID)
	}
	if !slices.Equal(walked, accepted) {
		t.Fatalf("pages of 1: %v, want %v", walked, accepted)
	}
	to := uint64(2)
	var bounded []dag.ID
	for tx, err := range c.DeviceTransactions(ctx, id, client.HistoryQuery{FromSeq: 1, ToSeq: &to}) {
		if err != nil {
			t.Fatal(err)
		}
		bounded = append(bounded, tx.ID)
	}
	if !slices.Equal(bounded, accepted[1:3]) {
		t.Fatalf("seq 1 to 2: %v, want %v", bounded, accepted[1:3])
	}

	auths, err = c.Authorities(ctx)
	if err != nil || auths.Authorities[0].Devices != 0 || auths.Authorities[1].Devices != 1 {
		t.Fatalf("authorities after the transfer: %+v, %v", auths, err)
	}
	if _, err := c.Device(ctx, dag.ID{1}.String()); !errors.Is(err, dag.ErrNotFound) {
		t.Fatalf("unknown device: %v, want not_found", err)
	}
	if _, err := c.Device(ctx, "nothex"); err == nil {
		t.Fatal("a malformed device reference was accepted")
	}
	if _, err := auth2.Suspend(ctx, dag.ID{1}); !errors.Is(err, dag.ErrNotFound) {
		t.Fatalf("suspend of an unknown device: %v, want not_found", err)
	}
}

// TestSendRefusesRotate: a rotation through Send would leave the Device
// signing with the old key.
func TestSendRefusesRotate(t *testing.T) {
	c, err := client.New("http://127.0.0.1:1", client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	next := newTestKey(t)
	if _, err := client.NewDevice(c, newTestKey(t)).Send(context.Background(), dag.KindRotate, dag.RotatePayload(pubOf(next), nil)); err == nil {
		t.Fatal("Send sent a rotation")
	}
	if _, err := client.NewDevice(c, newTestKey(t)).Rotate(context.Background(), ed25519.PrivateKey{1, 2, 3}, nil); err == nil {
		t.Fatal("Rotate accepted a malformed key")
	}
}

// An authority registers a device; the device writes until the authority
// suspends it.
func ExampleAuthority() {
	dir, err := os.MkdirTemp("", "tangled-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	nodeURL, stop, err := authorityNode(dir, nil) // writes dir/authority-1.key
	if err != nil {
		log.Fatal(err)
	}
	defer stop()
	c, err := client.New(nodeURL, client.Options{})
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	authorityKey, err := client.LoadKey(filepath.Join(dir, "authority-1.key"))
	if err != nil {
		log.Fatal(err)
	}
	authority := client.NewAuthority(c, authorityKey)
	deviceKey, err := client.GenerateKey()
	if err != nil {
		log.Fatal(err)
	}
	var pub dag.PublicKey
	copy(pub[:], deviceKey.Public().(ed25519.PublicKey))
	id, err := authority.Register(ctx, client.Registration{
		Key: pub, Class: "meter", Attributes: []client.Attribute{{Key: "site", Value: "north"}},
	})
	if err != nil {
		log.Fatal(err)
	}
	d, err := c.Device(ctx, id.String())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(d.Class, d.State, d.Attributes["site"])

	meter := client.NewDevice(c, deviceKey)
	if _, err := meter.Send(ctx, dag.KindData, []byte("kwh=12.5")); err != nil {
		log.Fatal(err)
	}
	if _, err := authority.Suspend(ctx, id); err != nil {
		log.Fatal(err)
	}
	_, err = meter.Send(ctx, dag.KindData, []byte("kwh=12.7"))
	var apiErr *client.APIError
	if errors.As(err, &apiErr) {
		fmt.Println(apiErr.Code)
	}
	// Output:
	// meter active north
	// device_suspended
}
