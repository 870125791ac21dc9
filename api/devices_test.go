package api

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/dag/dagtest"
	"github.com/tangled-ledger/tangled/device"
)

// deviceHarness is a harness whose genesis names one authority, with one
// registered device that has sent some data.
type deviceHarness struct {
	*harness
	authority *dagtest.Issuer
	device    *dagtest.Issuer
	reg       *dag.Transaction
	sent      []*dag.Transaction
	clock     time.Duration
}

var fleetKey = dagtest.Key("fleet")

func newDeviceHarness(t *testing.T, readings int) *deviceHarness {
	t.Helper()
	h := newHarness(t, harnessConfig{
		authorities:  []dag.Authority{{Name: "fleet", PublicKey: dagtest.PublicKey(fleetKey), Classes: []string{"sensor"}}},
		permissioned: true,
	})
	dh := &deviceHarness{harness: h, authority: &dagtest.Issuer{Key: fleetKey, Rules: testRules},
		device: dagtest.NewIssuer("sensor-1", testRules)}
	reg := device.Registration{Key: dagtest.PublicKey(dh.device.Key), Class: "sensor",
		Attributes: []device.Attribute{{Key: "serial", Value: "A-1"}}}
	root := h.ledger.Root()
	dh.reg = dh.authority.Issue(dag.KindRegister, root, root, dh.tick(), reg.Encode())
	h.mustAttach(dh.reg)
	for i := range readings {
		dh.send([]byte("reading " + strconv.Itoa(i)))
	}
	return dh
}

// tick is the next issuing time, a second after the one before.
func (dh *deviceHarness) tick() int64 { dh.clock += time.Second; return at(dh.clock) }

// send posts the device's next data transaction, approving the newest.
func (dh *deviceHarness) send(payload []byte) *dag.Transaction {
	parent := dh.reg.ID()
	if n := len(dh.sent); n > 0 {
		parent = dh.sent[n-1].ID()
	}
	tx := dh.device.Issue(dag.KindData, parent, parent, dh.tick(), payload)
	dh.mustAttach(tx)
	dh.sent = append(dh.sent, tx)
	return tx
}

func (dh *deviceHarness) page(t *testing.T, query string) deviceHistory {
	t.Helper()
	r := dh.get("/v1/devices/" + dh.reg.ID().String() + "/transactions" + query)
	if r.status != http.StatusOK {
		t.Fatalf("%s: %d %s", query, r.status, r.body)
	}
	return decodeAs[deviceHistory](t, r)
}

func seqsOf(items []deviceTransaction) []uint64 {
	var out []uint64
	for _, it := range items {
		out = append(out, it.Seq)
	}
	return out
}

func TestDeviceByIDAndKey(t *testing.T) {
	dh := newDeviceHarness(t, 3)
	id := dh.reg.ID()
	key := dagtest.PublicKey(dh.device.Key)
	first := dh.sent[0].ID()
	want := device.Device{
		ID: id, Class: "sensor", Owner: dagtest.PublicKey(fleetKey), RegisteredBy: dagtest.PublicKey(fleetKey),
		Attributes: map[string]string{"serial": "A-1"}, State: "active", Key: key,
		Keys:    []device.KeyRecord{{Key: key, Transaction: id}},
		Control: []device.ControlRecord{}, Transactions: 3, NextSeq: 3, First: &first,
		Policies: []device.PolicyRef{},
	}
	for _, ref := range []string{id.String(), key.String()} {
		r := dh.get("/v1/devices/" + ref)
		if r.status != http.StatusOK {
			t.Fatalf("%s: %d %s", ref, r.status, r.body)
		}
		if diff := cmp.Diff(want, decodeAs[device.Device](t, r)); diff != "" {
			t.Errorf("GET /v1/devices/%s (-want +got):\n%s", ref, diff)
		}
	}
	for _, c := range []struct {
		path   string
		status int
		code   string
	}{
		{"/v1/devices/" + dagtest.PublicKey(dagtest.Key("stranger")).String(), 404, "not_found"},
		{"/v1/devices/" + dagtest.PublicKey(dagtest.Key("stranger")).String() + "/transactions", 404, "not_found"},
		{"/v1/devices/xyz", 400, "malformed"},
		{"/v1/devices/" + strings.ToUpper(id.String()), 400, "malformed"},
		{"/v1/devices/" + id.String() + "?verbose=1", 400, "malformed"},
		{"/v1/authorities?all=1", 400, "malformed"},
	} {
		t.Run(c.path, func(t *testing.T) { wantError(t, dh.get(c.path), c.status, c.code) })
	}
}

func TestDeviceTransactionsPages(t *testing.T) {
	dh := newDeviceHarness(t, 5)
	var got []uint64
	var cursors []string
	query := "?limit=2"
	for {
		p := dh.page(t, query)
		if p.Device != dh.reg.ID() {
			t.Fatalf("device %s, want %s", p.Device, dh.reg.ID())
		}
		got = append(got, seqsOf(p.Transactions)...)
		if p.NextCursor == "" {
			break
		}
		cursors = append(cursors, p.NextCursor)
		query = "?limit=2&cursor=" + p.NextCursor
	}
	if want := []uint64{0, 1, 2, 3, 4}; !slices.Equal(got, want) || !slices.Equal(cursors, []string{"2", "4"}) {
		t.Fatalf("pages of 2: seqs %v, cursors %q; want %v and [2 4]", got, cursors, want)
	}

	// Every item is the transaction, in short.
	p := dh.page(t, "")
	for i, it := range p.Transactions {
		tx := dh.sent[i]
		want := deviceTransaction{ID: tx.ID(), Seq: tx.Seq, Kind: dag.KindData, Time: dag.FormatTime(tx.Time), Issuer: tx.Issuer, Status: statusPending,
			Policies: []device.PolicyRef{}}
		if diff := cmp.Diff(want, it); diff != "" {
			t.Errorf("item %d (-want +got):\n%s", i, diff)
		}
	}
	// The key names the device too.
	byKey := dh.get("/v1/devices/" + dagtest.PublicKey(dh.device.Key).String() + "/transactions?limit=1")
	if h := decodeAs[deviceHistory](t, byKey); h.Device != dh.reg.ID() || !slices.Equal(seqsOf(h.Transactions), []uint64{0}) || h.NextCursor != "1" {
		t.Fatalf("by key: %+v", h)
	}

	timeOf := func(i int) string { return dag.FormatTime(dh.sent[i].Time) }
	for _, c := range []struct {
		query string
		want  []uint64
	}{
		{"?from_seq=1&to_seq=3", []uint64{1, 2, 3}},
		{"?from_seq=4", []uint64{4}},
		{"?from_seq=9", nil},
		{"?to_seq=0", []uint64{0}},
		{"?from_seq=3&to_seq=1", nil},
		{"?from_time=" + timeOf(1) + "&to_time=" + timeOf(2), []uint64{1, 2}},
		{"?to_time=1970-01-01T00:00:00Z", nil},
		{"?from_time=" + timeOf(3) + "&limit=1000", []uint64{3, 4}},
	} {
		p := dh.page(t, c.query)
		if got := seqsOf(p.Transactions); !slices.Equal(got, c.want) || p.NextCursor != "" {
			t.Errorf("%s: seqs %v next %q, want %v and no cursor", c.query, got, p.NextCursor, c.want)
		}
	}
	for _, query := range []string{
		"?limit=0", "?limit=1001", "?limit=01", "?limit=-1", "?limit=many",
		"?cursor=2&from_seq=1", "?cursor=02", "?cursor=x", "?from_seq=-1", "?to_seq=18446744073709551616",
		"?from_time=2026-01-01T00:00:00%2B01:00", "?to_time=yesterday", "?limit=2&limit=3", "?offset=2",
	} {
		t.Run(query, func(t *testing.T) {
			wantError(t, dh.get("/v1/devices/"+dh.reg.ID().String()+"/transactions"+query), 400, "malformed")
		})
	}
}

func TestAuthorities(t *testing.T) {
	dh := newDeviceHarness(t, 0)
	r := dh.get("/v1/authorities")
	want := authoritiesBody{Permissioned: true, Authorities: []device.AuthorityInfo{
		{Name: "fleet", PublicKey: dagtest.PublicKey(fleetKey), Classes: []string{"sensor"}, Devices: 1},
	}}
	if diff := cmp.Diff(want, decodeAs[authoritiesBody](t, r)); r.status != http.StatusOK || diff != "" {
		t.Fatalf("%d (-want +got):\n%s", r.status, diff)
	}
}

// TestNoAuthorities: a network without authorities has no devices; its
// authorities list is empty.
func TestNoAuthorities(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	r := h.get("/v1/authorities")
	if r.status != http.StatusOK || string(r.body) != `{"permissioned":false,"authorities":[]}`+"\n" {
		t.Fatalf("authorities: %d %s", r.status, r.body)
	}
	id := dagtest.PublicKey(dagtest.Key("anyone")).String()
	wantError(t, h.get("/v1/devices/"+id), 404, "not_found")
	wantError(t, h.get("/v1/devices/"+id+"/transactions?limit=2"), 404, "not_found")
}

// TestDeviceRejections: the device layer's codes reach the client with
// the statuses of the table.
func TestDeviceRejections(t *testing.T) {
	dh := newDeviceHarness(t, 1)
	root := dh.ledger.Root()
	stranger := dagtest.NewIssuer("stranger", testRules).Issue(dag.KindData, root, root, dh.tick(), []byte("hello"))
	wantError(t, dh.postBinary(stranger), 403, device.CodeUnregistered)
	// Not an authority: refused before the device layer sees it.
	reg := device.Registration{Key: dagtest.PublicKey(dagtest.Key("other")), Class: "sensor"}
	fake := dagtest.NewIssuer("impostor", testRules).Issue(dag.KindRegister, root, root, dh.tick(), reg.Encode())
	wantError(t, dh.postBinary(fake), 403, "not_authority")
	// The same key again.
	again := device.Registration{Key: dagtest.PublicKey(dh.device.Key), Class: "sensor"}
	saved := *dh.authority
	dup := dh.authority.Issue(dag.KindRegister, dh.reg.ID(), dh.reg.ID(), dh.tick(), again.Encode())
	wantError(t, dh.postBinary(dup), 409, device.CodeDeviceExists)
	*dh.authority = saved
	// A class the authority may not register.
	other := device.Registration{Key: dagtest.PublicKey(dagtest.Key("camera")), Class: "camera"}
	cls := dh.authority.Issue(dag.KindRegister, dh.reg.ID(), dh.reg.ID(), dh.tick(), other.Encode())
	wantError(t, dh.postBinary(cls), 403, device.CodeClassNotAllowed)
	*dh.authority = saved
	// Suspend of a device its past does not know.
	unknown := dh.authority.Issue(dag.KindSuspend, root, root, dh.tick(), device.LifecyclePayload(dag.ID(dagtest.PublicKey(dagtest.Key("nobody")))))
	wantError(t, dh.postBinary(unknown), 422, device.CodeUnknownDevice)
	*dh.authority = saved
}

// TestStatusRuledOut: a device's pending transaction that a revocation
// rules out says so in its reasons.
func TestStatusRuledOut(t *testing.T) {
	dh := newDeviceHarness(t, 1)
	head := dh.sent[0]
	revoke := dh.authority.Issue(dag.KindRevoke, dh.reg.ID(), dh.reg.ID(), dh.tick(), device.LifecyclePayload(dh.reg.ID()))
	dh.mustAttach(revoke)
	st := dh.status(head.ID())
	if st.Status != statusPending || !slices.Contains(st.Reasons, reasonRuledOut) {
		t.Fatalf("ruled-out head: status %q, reasons %q", st.Status, st.Reasons)
	}
	d := decodeAs[device.Device](t, dh.get("/v1/devices/"+dh.reg.ID().String()))
	if d.State != "revoked" || len(d.Control) != 1 || d.Control[0].Kind != dag.KindRevoke || d.Control[0].Transaction != revoke.ID() {
		t.Fatalf("after the revocation: %+v", d)
	}
	next := dh.device.Issue(dag.KindData, revoke.ID(), revoke.ID(), dh.tick(), []byte("after"))
	wantError(t, dh.postBinary(next), 403, device.CodeRevoked)
}

// TestStatusTable: every device code has a status in the table.
func TestStatusTable(t *testing.T) {
	for _, code := range append(slices.Clone(device.Codes), "not_authority") {
		if _, ok := statusOf[code]; !ok {
			t.Errorf("%s has no status", code)
		}
	}
}

// FuzzParseSeq: a sequence number has one spelling, FormatUint's.
func FuzzParseSeq(f *testing.F) {
	for _, s := range []string{"0", "1", "01", "18446744073709551615", "18446744073709551616", "-1", "+1", " 1", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := parseSeq(s)
		if err == nil && strconv.FormatUint(n, 10) != s {
			t.Fatalf("parseSeq(%q) = %d, which is spelt %q", s, n, strconv.FormatUint(n, 10))
		}
		if err != nil {
			if v, perr := strconv.ParseUint(s, 10, 64); perr == nil && strconv.FormatUint(v, 10) == s {
				t.Fatalf("parseSeq(%q) refused the canonical spelling of %d: %v", s, v, err)
			}
		}
	})
}
