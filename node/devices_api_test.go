package node_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tangled-ledger/tangled/client"
	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/device"
	"github.com/tangled-ledger/tangled/internal/poll"
	"github.com/tangled-ledger/tangled/node"
	"github.com/tangled-ledger/tangled/pow"
)

// authorityNetwork writes testNetwork's genesis with one authority
// ("fleet", class sensor) into dir; the network is permissioned: only
// registered, active devices write data.
func authorityNetwork(t testing.TB, dir string, authority dag.PublicKey) (genesis, key string) {
	t.Helper()
	genesis, key = testNetwork(t, dir)
	g, err := dag.LoadGenesis(genesis)
	if err != nil {
		t.Fatal(err)
	}
	g.Authorities = []dag.Authority{{Name: "fleet", PublicKey: authority, Classes: []string{"sensor"}}}
	g.Permissioned = true
	data, err := json.MarshalIndent(g, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(genesis, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return genesis, key
}

func publicKey(key ed25519.PrivateKey) dag.PublicKey {
	return dag.PublicKey(key.Public().(ed25519.PublicKey))
}

// control builds an authority's next control transaction the way an
// outside client does: seq, prev, parents and the difficulty from
// /v1/tips?issuer=, the work solved with pow.Solve. A lifecycle action
// must have the device's newest control transaction in its past, so a
// non-zero see replaces the trunk.
func control(ctx context.Context, c *client.Client, authority ed25519.PrivateKey, kind dag.Kind, see dag.ID, payload []byte) (*dag.Transaction, error) {
	pub := publicKey(authority)
	tips, err := c.Tips(ctx, &pub, len(payload))
	if err != nil {
		return nil, err
	}
	tx := &dag.Transaction{Kind: kind, Trunk: tips.Trunk, Branch: tips.Branch, Seq: tips.Issuer.NextSeq, Prev: tips.Issuer.Prev,
		Time: time.Now().UnixNano(), Payload: payload}
	if !see.IsZero() {
		tx.Trunk = see
	}
	tx.Sign(authority)
	if tx.Nonce, err = pow.Solve(ctx, tx.ID(), tips.Difficulty, 1); err != nil {
		return nil, err
	}
	return tx, nil
}

// register posts the registration of key, of class sensor, and requires
// it attached.
func register(t testing.TB, ctx context.Context, c *client.Client, authority ed25519.PrivateKey, key dag.PublicKey) dag.ID {
	t.Helper()
	reg := device.Registration{Key: key, Class: "sensor", Attributes: []device.Attribute{{Key: "site", Value: "north"}}}
	tx, err := control(ctx, c, authority, dag.KindRegister, dag.ID{}, reg.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if res, err := c.Post(ctx, tx); err != nil || res.Status != client.StatusAttached {
		t.Fatalf("registration: %+v, %v", res, err)
	}
	return tx.ID()
}

// getJSON reads path and decodes a 200 answer strictly into v; it returns
// the status, and the error code of any other answer.
func getJSON(t testing.TB, base, path string, v any) (int, string) {
	t.Helper()
	resp, err := http.Get(base + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct{ Code string }
		_ = json.Unmarshal(body, &e)
		return resp.StatusCode, e.Code
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("GET %s: %v in %s", path, err, body)
	}
	return resp.StatusCode, ""
}

// deviceTransactions is the contract's DeviceTransactions.
type deviceTransactions struct {
	Device       dag.ID `json:"device"`
	Transactions []struct {
		ID             dag.ID        `json:"id"`
		Seq            uint64        `json:"seq"`
		Kind           dag.Kind      `json:"kind"`
		Time           string        `json:"time"`
		Issuer         dag.PublicKey `json:"issuer"`
		Status         string        `json:"status"`
		ConfirmedIndex uint64        `json:"confirmed_index"`
		Policies       []struct {
			Transaction dag.ID        `json:"transaction"`
			Scope       string        `json:"scope"`
			Class       string        `json:"class"`
			Device      dag.ID        `json:"device"`
			Name        string        `json:"name"`
			Version     uint64        `json:"version"`
			Authority   dag.PublicKey `json:"authority"`
		} `json:"policies"`
	} `json:"transactions"`
	NextCursor string `json:"next_cursor"`
}

type authorities struct {
	Permissioned bool                   `json:"permissioned"`
	Authorities  []device.AuthorityInfo `json:"authorities"`
}

// TestDeviceAPI: through a real node with an authority, a registration
// built from /v1/tips?issuer= is posted; the device is then found by ID
// and by key, its transactions are listed a page at a time until all are
// confirmed, the authority counts it; an unregistered key is refused 403
// device_unregistered, unknown devices are 404 and a bad limit 400.
func TestDeviceAPI(t *testing.T) {
	dir := t.TempDir()
	fleet := newKey(t)
	genesis, key := authorityNetwork(t, dir, publicKey(fleet))
	r := start(t, node.Config{DataDir: dir, GenesisFile: genesis, KeyFile: key})
	base := "http://" + r.n.HTTPAddr()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	var auth authorities
	if status, code := getJSON(t, base, "/v1/authorities", &auth); status != 200 {
		t.Fatalf("authorities: %d %s", status, code)
	}
	want := authorities{Permissioned: true, Authorities: []device.AuthorityInfo{{Name: "fleet", PublicKey: publicKey(fleet), Classes: []string{"sensor"}}}}
	if diff := cmp.Diff(want, auth); diff != "" {
		t.Fatalf("authorities before a registration (-want +got):\n%s", diff)
	}

	stranger := client.NewDevice(r.c, newKey(t))
	_, err := stranger.Send(ctx, dag.KindData, []byte("hello"))
	var apiErr *client.APIError
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusForbidden || apiErr.Code != device.CodeUnregistered {
		t.Fatalf("unregistered key: %v, want 403 %s", err, device.CodeUnregistered)
	}

	devKey := newKey(t)
	id := register(t, ctx, r.c, fleet, publicKey(devKey))
	dev := client.NewDevice(r.c, devKey)
	var sent []dag.ID
	for i := range 5 {
		txID, err := dev.Send(ctx, dag.KindData, fmt.Appendf(nil, "reading %d", i))
		if err != nil {
			t.Fatalf("reading %d: %v", i, err)
		}
		sent = append(sent, txID)
	}

	for _, ref := range []string{id.String(), publicKey(devKey).String()} {
		var d device.Device
		if status, code := getJSON(t, base, "/v1/devices/"+ref, &d); status != 200 {
			t.Fatalf("device %s: %d %s", ref, status, code)
		}
		if d.ID != id || d.State != "active" || d.Key != publicKey(devKey) || d.Owner != publicKey(fleet) ||
			d.Transactions != 5 || d.NextSeq != 5 || d.First == nil || *d.First != sent[0] || d.Attributes["site"] != "north" {
			t.Fatalf("device %s: %+v", ref, d)
		}
	}

	// Pages of two, until every transaction is confirmed.
	poll.Until(t, 30*time.Second, "the device's transactions listed, confirmed, in pages of two", func() bool {
		var got []dag.ID
		cursor := ""
		for pages := 0; ; pages++ {
			query := "?limit=2"
			if cursor != "" {
				query += "&cursor=" + cursor
			}
			var p deviceTransactions
			if status, code := getJSON(t, base, "/v1/devices/"+id.String()+"/transactions"+query, &p); status != 200 {
				t.Fatalf("transactions%s: %d %s", query, status, code)
			}
			if p.Device != id || len(p.Transactions) > 2 || pages > 3 {
				t.Fatalf("page %s: %+v", query, p)
			}
			for _, it := range p.Transactions {
				if it.Status != "confirmed" || it.ConfirmedIndex == 0 {
					return false
				}
				if it.Seq != uint64(len(got)) || it.Issuer != publicKey(devKey) || it.Kind != dag.KindData {
					t.Fatalf("item %d: %+v", len(got), it)
				}
				got = append(got, it.ID)
			}
			if cursor = p.NextCursor; cursor == "" {
				break
			}
		}
		if !slices.Equal(got, sent) {
			t.Fatalf("listed %v, sent %v", got, sent)
		}
		return true
	})

	if getJSON(t, base, "/v1/authorities", &auth); auth.Authorities[0].Devices != 1 {
		t.Fatalf("authorities after a registration: %+v", auth)
	}
	st, err := r.c.Transaction(ctx, id)
	if err != nil || st.Transaction.Kind != dag.KindRegister {
		t.Fatalf("the registration's status: %+v, %v", st, err)
	}

	unknown := publicKey(newKey(t)).String()
	for _, c := range []struct {
		path   string
		status int
		code   string
	}{
		{"/v1/devices/" + unknown, 404, "not_found"},
		{"/v1/devices/" + unknown + "/transactions", 404, "not_found"},
		{"/v1/devices/" + id.String() + "/transactions?limit=1001", 400, "malformed"},
		{"/v1/devices/" + id.String() + "/transactions?limit=0", 400, "malformed"},
		{"/v1/devices/" + id.String() + "/transactions?cursor=2&from_seq=2", 400, "malformed"},
		{"/v1/devices/not-hex", 400, "malformed"},
	} {
		if status, code := getJSON(t, base, c.path, nil); status != c.status || code != c.code {
			t.Errorf("GET %s: %d %s, want %d %s", c.path, status, code, c.status, c.code)
		}
	}
}

// TestDeviceAPIWithoutAuthorities: a network without authorities has no
// devices and an empty list of authorities.
func TestDeviceAPIWithoutAuthorities(t *testing.T) {
	dir := t.TempDir()
	genesis, key := testNetwork(t, dir)
	r := start(t, node.Config{DataDir: dir, GenesisFile: genesis, KeyFile: key})
	base := "http://" + r.n.HTTPAddr()
	var auth authorities
	if status, _ := getJSON(t, base, "/v1/authorities", &auth); status != 200 || auth.Permissioned || auth.Authorities == nil || len(auth.Authorities) != 0 {
		t.Fatalf("authorities: %d %+v", status, auth)
	}
	stranger := publicKey(newKey(t)).String()
	for _, path := range []string{"/v1/devices/" + stranger, "/v1/devices/" + stranger + "/transactions"} {
		if status, code := getJSON(t, base, path, nil); status != 404 || code != "not_found" {
			t.Errorf("GET %s: %d %s, want 404 not_found", path, status, code)
		}
	}
}
