package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/dag/dagtest"
	"github.com/tangled-ledger/tangled/device"
	"github.com/tangled-ledger/tangled/pow"
)

// TestPoliciesQuery: the query is sent as the contract spells it, and the
// node's JSON (scopes by name) reads back into the device package's
// types unchanged.
func TestPoliciesQuery(t *testing.T) {
	dev := dag.ID{7}
	want := []PolicyInfo{
		{PolicyRef: PolicyRef{Transaction: dag.ID{1}, Scope: ScopeNetwork, Name: "net", Version: 1, Authority: dag.PublicKey{9}},
			InForce: true, Reads: "tx", Expression: "tx.size <= 1024", EstimatedCost: 3, Source: "// name: net\n"},
		{PolicyRef: PolicyRef{Transaction: dag.ID{2}, Scope: ScopeClass, Class: "lock", Name: "floor", Version: 2, Authority: dag.PublicKey{9}},
			Reads: "device", Expression: "device.firmware >= 4", Rate: "1/10s growth 8", NodeWork: "6/1m0s"},
		{PolicyRef: PolicyRef{Transaction: dag.ID{3}, Scope: ScopeDevice, Device: &dev, Name: "lock", Version: 1, Authority: dag.PublicKey{9}},
			InForce: true, Reads: "tx, device", Expression: "true"},
	}
	var gotQuery string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/policies" {
			writeError(w, "not_found", r.URL.Path)
			return
		}
		gotQuery = r.URL.RawQuery
		writeJSON(w, http.StatusOK, map[string]any{"policies": want})
	}))
	defer srv.Close()
	c, err := New(srv.URL, Options{})
	if err != nil {
		t.Fatal(err)
	}
	class := ScopeClass
	for _, tc := range []struct {
		q     PolicyQuery
		query string
	}{
		{PolicyQuery{}, ""},
		{PolicyQuery{InForce: true}, "in_force=true"},
		{PolicyQuery{Scope: &class, Class: "lock"}, "class=lock&scope=class"},
		{PolicyQuery{Device: &dev, InForce: true}, "device=" + dev.String() + "&in_force=true"},
	} {
		got, err := c.Policies(context.Background(), tc.q)
		if err != nil {
			t.Fatalf("%+v: %v", tc.q, err)
		}
		if gotQuery != tc.query {
			t.Errorf("%+v sent %q, want %q", tc.q, gotQuery, tc.query)
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Fatalf("policies differ (-want +got):\n%s", d)
		}
	}
}

// TestDecodeDeviceWithPolicies: a device and a history item as the node
// writes them, policies included, read back unchanged; an unknown scope
// is an error rather than a silent network scope.
func TestDecodeDeviceWithPolicies(t *testing.T) {
	id := dag.ID{4}
	want := device.Device{
		ID: id, Class: "lock", Attributes: map[string]string{"firmware": "3"}, State: "active",
		Keys: []device.KeyRecord{{Key: dag.PublicKey{1}, Transaction: id}}, Control: []device.ControlRecord{},
		Policies: []PolicyRef{
			{Transaction: dag.ID{1}, Scope: ScopeNetwork, Name: "net", Version: 1},
			{Transaction: dag.ID{2}, Scope: ScopeDevice, Device: &id, Name: "lock", Version: 3},
		},
	}
	data, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeDevice(data)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(&want, got); d != "" {
		t.Fatalf("device differs (-want +got):\n%s", d)
	}
	if _, err := DecodeDevice(bytes.Replace(data, []byte(`"scope":"device"`), []byte(`"scope":"planet"`), 1)); err == nil {
		t.Fatal("a device with scope planet decoded")
	}

	item := DeviceTransaction{ID: dag.ID{5}, Kind: "data", Status: StatePending, Policies: want.Policies}
	data, err = json.Marshal(item)
	if err != nil {
		t.Fatal(err)
	}
	var back DeviceTransaction
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(item, back); d != "" {
		t.Fatalf("history item differs (-want +got):\n%s", d)
	}
}

// nodeWork plays a node that does the work for devices: it answers
// /v1/tips with a difficulty no device could meet (so a Device that
// solved would never finish), solves what arrives with ?work=node itself
// with the ledger's real rules, and refuses once allowance is spent.
type nodeWork struct {
	n *testNode

	mu        sync.Mutex
	allowance int
	solved    []dag.ID
	unsolved  int // posts with ?work=node whose nonce did not already meet the rules
	plain     int // posts without ?work=node
	// refuse answers the next refusals posts with ?work=node with this
	// code instead.
	refuse   string
	refusals int
}

func (nw *nodeWork) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/v1/tips":
			rec := httptest.NewRecorder()
			next.ServeHTTP(rec, r)
			var out map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
				writeError(w, "internal", err.Error())
				return
			}
			out["difficulty"] = pow.MaxBits
			writeJSON(w, rec.Code, out)
		case r.Method == http.MethodPost && r.URL.Path == "/v1/transactions" && r.URL.Query().Get("work") == "node":
			body, _ := io.ReadAll(r.Body)
			tx, err := dag.Decode(body, dag.MaxPayloadLimit)
			if err != nil {
				writeError(w, "malformed", err.Error())
				return
			}
			nw.mu.Lock()
			refuse := ""
			if nw.refusals > 0 {
				refuse = nw.refuse
				nw.refusals--
			} else if nw.allowance == 0 {
				refuse = CodeNodeWorkRefused
			}
			if refuse == "" {
				nw.allowance--
				nw.solved = append(nw.solved, tx.ID())
			}
			bits := nw.n.ledger.Required(tx.Kind, len(tx.Payload), 0)
			if !pow.Verify(tx.ID(), tx.Nonce, bits) {
				nw.unsolved++
			}
			nw.mu.Unlock()
			if refuse != "" {
				if refuse == CodeNodeWorkRefused {
					writeJSON(w, http.StatusForbidden, map[string]string{"code": refuse, "message": "no node-work allowance"})
				} else {
					writeError(w, refuse, "injected")
				}
				return
			}
			nonce, err := pow.Solve(r.Context(), tx.ID(), bits, 1)
			if err != nil {
				writeError(w, "internal", err.Error())
				return
			}
			tx.Nonce = nonce
			r.Body = io.NopCloser(bytes.NewReader(tx.Bytes()))
			r.URL.RawQuery = ""
			next.ServeHTTP(w, r)
		default:
			if r.Method == http.MethodPost {
				nw.mu.Lock()
				nw.plain++
				nw.mu.Unlock()
			}
			next.ServeHTTP(w, r)
		}
	})
}

func (nw *nodeWork) set(allowance int, refuse string, refusals int) {
	nw.mu.Lock()
	nw.allowance, nw.refuse, nw.refusals = allowance, refuse, refusals
	nw.mu.Unlock()
}

// TestDeviceNodeWork: a Device with NodeWork signs and posts with
// ?work=node and never solves (the tips ask for pow.MaxBits, which no
// solver would finish); its chain advances as usual. A refusal leaves the
// transaction pending and the next Send delivers the very same bytes; a
// 429 is retried. PostNodeWork does the same for one transaction.
func TestDeviceNodeWork(t *testing.T) {
	nw := &nodeWork{allowance: 2}
	n := newTestNode(t, nodeConfig{rules: pow.Rules{BaseBits: 12}, wrap: nw.wrap})
	nw.n = n
	c := n.client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	d := NewDeviceWithOptions(c, dagtest.Key("microcontroller"), DeviceOptions{NodeWork: true})
	var ids []dag.ID
	for i := range 2 {
		id, err := d.Send(ctx, dag.KindData, []byte{byte(i)})
		if err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
		ids = append(ids, id)
	}
	chainOf(t, n, d, ids)
	if nw.unsolved != 2 || nw.plain != 0 || !cmp.Equal(nw.solved, ids) {
		t.Fatalf("node solved %v (%d arrived without work, %d plain posts), want %v", nw.solved, nw.unsolved, nw.plain, ids)
	}

	// The allowance is spent: refused, kept pending, not retried.
	_, err := d.Send(ctx, dag.KindData, []byte("third"))
	if codeOf(err) != CodeNodeWorkRefused || d.Pending() == nil {
		t.Fatalf("send beyond the allowance: %v (pending %v), want %s and the transaction pending", err, d.Pending(), CodeNodeWorkRefused)
	}
	pending := d.Pending().Bytes()
	nw.set(1, "", 0)
	id, err := d.Send(ctx, dag.KindData, []byte("fourth"))
	if codeOf(err) != CodeNodeWorkRefused {
		t.Fatalf("send after the refusal: %v, want the pending one delivered, then a refusal for the fourth", err)
	}
	nw.mu.Lock()
	delivered := nw.solved[len(nw.solved)-1]
	nw.mu.Unlock()
	if tx, _ := dag.Decode(pending, dag.MaxPayloadLimit); tx.ID() != delivered || !id.IsZero() {
		t.Fatalf("the node solved %s, want the pending %s", delivered.Short(), tx.ID().Short())
	}

	// Overloaded: the pending fourth is retried with the same bytes
	// until the node takes it, then the fifth goes.
	nw.set(2, "rate_limited", 1)
	fifth, err := d.Send(ctx, dag.KindData, []byte("fifth"))
	if err != nil {
		t.Fatalf("send through a 429: %v", err)
	}
	nw.mu.Lock()
	last := nw.solved[len(nw.solved)-2:]
	nw.mu.Unlock()
	if last[1] != fifth {
		t.Fatalf("the node solved %v last, want the fourth then the fifth (%s)", last, fifth.Short())
	}

	// One transaction by hand, as a gateway without a Device would.
	tx := &dag.Transaction{Kind: dag.KindData, Trunk: n.ledger.Root(), Branch: n.ledger.Root(), Time: time.Now().UnixNano(), Payload: []byte("by hand")}
	tx.Sign(dagtest.Key("gateway-device"))
	nw.set(1, "", 0)
	res, err := c.PostNodeWork(ctx, tx)
	if err != nil || res.ID != tx.ID() || res.Status != StatusAttached {
		t.Fatalf("PostNodeWork: %+v, %v", res, err)
	}
	if !n.ledger.Known(tx.ID()) {
		t.Fatal("the node does not have the transaction it acknowledged")
	}
}

func codeOf(err error) string {
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		return apiErr.Code
	}
	return ""
}
