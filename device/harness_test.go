package device_test

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/dag/dagtest"
	"github.com/tangled-ledger/tangled/device"
	"github.com/tangled-ledger/tangled/pow"
)

// world is one ledger with the device registry, and names for the keys,
// devices and transactions a test script talks about.
type world struct {
	t        testing.TB
	net      *dagtest.Network
	auth     map[string]*dagtest.Issuer // authority name -> chain
	authKey  map[string]ed25519.PrivateKey
	chains   map[string]*dagtest.Issuer // device key label -> its chain
	devices  map[string]dag.ID          // device name -> registration ID
	txs      map[string]dag.ID          // transaction name -> ID
	names    map[dag.ID]string
	ledger   *dag.Ledger
	registry *device.Registry
	last     dag.ID // the newest attached transaction
	lastErr  string // the message of the last rejection
	clock    int64
	rules    pow.Rules
	// layer is the ledger's rule layer: registry, or one restored in its
	// place.
	layer *layerSwitch
}

// newWorld builds a genesis with one validator (v0) and the authorities
// spec lists as "name:class+class", then opens a ledger on it.
func newWorld(t testing.TB, authorities []string, permissioned bool) *world {
	return newWorldLimit(t, authorities, permissioned, 0)
}

// newWorldLimit is newWorld with the genesis policy cost limit.
func newWorldLimit(t testing.TB, authorities []string, permissioned bool, costLimit uint64) *world {
	return newWorldWith(t, authorities, permissioned, func(g *dag.Genesis) { g.PolicyCostLimit = costLimit })
}

// newWorldWith is newWorld with a last change to the genesis (it sees the
// authorities).
func newWorldWith(t testing.TB, authorities []string, permissioned bool, edit func(*dag.Genesis)) *world {
	w := &world{
		t: t, auth: map[string]*dagtest.Issuer{}, authKey: map[string]ed25519.PrivateKey{},
		chains: map[string]*dagtest.Issuer{}, devices: map[string]dag.ID{},
		txs: map[string]dag.ID{}, names: map[dag.ID]string{},
	}
	w.net = dagtest.NewNetwork(1, w.rules)
	for _, spec := range authorities {
		name, classes, _ := strings.Cut(spec, ":")
		key := dagtest.Key("authority-" + name)
		w.authKey[name] = key
		w.auth[name] = &dagtest.Issuer{Key: key, Rules: w.rules}
		w.net.Genesis.Authorities = append(w.net.Genesis.Authorities, dag.Authority{
			Name: name, PublicKey: dagtest.PublicKey(key), Classes: strings.Split(classes, "+")})
	}
	w.net.Genesis.Permissioned = permissioned
	edit(w.net.Genesis)
	w.registry = device.New(*w.net.Genesis)
	w.layer = &layerSwitch{}
	w.layer.r.Store(w.registry)
	// The node's clock runs an hour ahead of the script's issuing times
	// (wait moves both), so nothing is from the future.
	l, err := dag.Open(dag.Config{Genesis: w.net.Genesis, Rules: w.layer,
		Now: func() time.Time { return time.Unix(0, w.clock).Add(time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	w.ledger = l
	w.last = l.Root()
	w.names[l.Root()] = "genesis"
	w.clock = dagtest.GenesisTime.UnixNano()
	return w
}

// layerSwitch is a rule layer that forwards to a registry that a test
// may replace between attaches (checkpoint_test.go restores one in the
// place of the registry that built the ledger).
type layerSwitch struct {
	r atomic.Pointer[device.Registry]
}

func (s *layerSwitch) Check(tx *dag.Transaction, past dag.PastView) error {
	return s.r.Load().Check(tx, past)
}

func (s *layerSwitch) Apply(tx *dag.Transaction, view dag.ApplyView) dag.Applied {
	return s.r.Load().Apply(tx, view)
}

func (s *layerSwitch) Equivocation(a, b dag.ID, past dag.PastView) {
	s.r.Load().Equivocation(a, b, past)
}

func (s *layerSwitch) RateRule(tx *dag.Transaction, past dag.PastView) (dag.RateRule, bool) {
	return s.r.Load().RateRule(tx, past)
}

func (s *layerSwitch) CurrentRateRule(issuer dag.PublicKey) (dag.RateRule, bool) {
	return s.r.Load().CurrentRateRule(issuer)
}

func (w *world) now() int64 { w.clock += int64(time.Millisecond); return w.clock }

// parents resolves "a,b" (names, or "last", or "genesis"); empty means
// the newest attached transaction twice, so the new one sees everything.
func (w *world) parents(spec string) (dag.ID, dag.ID) {
	if spec == "" {
		return w.last, w.last
	}
	parts := strings.Split(spec, ",")
	ids := make([]dag.ID, 2)
	for i := range ids {
		p := parts[min(i, len(parts)-1)]
		switch p {
		case "last":
			ids[i] = w.last
		case "genesis":
			ids[i] = w.ledger.Root()
		default:
			id, ok := w.txs[p]
			if !ok {
				w.t.Fatalf("unknown transaction %q", p)
			}
			ids[i] = id
		}
	}
	return ids[0], ids[1]
}

// chain returns the device chain signing with key label, creating it.
func (w *world) chain(label string) *dagtest.Issuer {
	if is, ok := w.chains[label]; ok {
		return is
	}
	is := &dagtest.Issuer{Key: dagtest.Key("device-" + label), Rules: w.rules}
	w.chains[label] = is
	return is
}

func devicePublicKey(label string) dag.PublicKey {
	return dagtest.PublicKey(dagtest.Key("device-" + label))
}

// issue signs the issuer's next transaction and submits it; a chain
// whose transaction was not accepted does not move.
func (w *world) issue(name string, is *dagtest.Issuer, kind dag.Kind, trunk, branch dag.ID, payload []byte) string {
	saved := *is
	out := w.submit(name, is.Issue(kind, trunk, branch, w.now(), payload))
	if !strings.HasPrefix(out, "accepted") {
		*is = saved
	}
	return out
}

// issueBits is issue with exactly bits of work.
func (w *world) issueBits(name string, is *dagtest.Issuer, kind dag.Kind, trunk, branch dag.ID, payload []byte, bits int) string {
	saved := *is
	tx := is.Build(kind, trunk, branch, w.now(), payload)
	nonce, err := pow.Solve(context.Background(), tx.ID(), bits, 1)
	if err != nil {
		w.t.Fatal(err)
	}
	tx.Nonce = nonce
	out := w.submit(name, tx)
	if !strings.HasPrefix(out, "accepted") {
		*is = saved
	}
	return out
}

// submit attaches tx and describes the outcome.
func (w *world) submit(name string, tx *dag.Transaction) string {
	results, err := w.ledger.AttachVerified([]*dag.Transaction{tx}).Wait()
	if err != nil {
		w.t.Fatal(err)
	}
	r := results[0]
	switch r.Status {
	case dag.StatusAttached:
		w.last = r.ID
		if name != "" {
			w.txs[name] = r.ID
			w.names[r.ID] = name
		}
		if r.Conflicting {
			return "accepted, conflicting"
		}
		return "accepted"
	case dag.StatusRejected:
		w.lastErr = r.Err.Error()
		if code := dag.Code(r.Err); code == device.CodePolicyDenied {
			return "rejected " + code + ": " + w.lastErr
		}
		return "rejected " + dag.Code(r.Err)
	}
	return r.Status.String()
}

// name gives a transaction's script name, or its short ID.
func (w *world) name(id dag.ID) string {
	if n, ok := w.names[id]; ok {
		return n
	}
	return id.Short()
}

// describe prints a device in a stable, short form.
func (w *world) describe(id dag.ID) string {
	d, ok := w.registry.Device(id)
	if !ok {
		return "no such device"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "state=%s class=%s owner=%s key=%s txs=%d next_seq=%d\n",
		d.State, d.Class, w.authorityName(d.Owner), w.keyLabel(d.Key), d.Transactions, d.NextSeq)
	if d.Firmware != nil {
		fmt.Fprintf(&b, "firmware %d (%s)\n", *d.Firmware, w.name(*d.FirmwareRelease))
	}
	for _, k := range d.Keys {
		fmt.Fprintf(&b, "key %s since %d by %s committed=%v\n", w.keyLabel(k.Key), k.Since, w.name(k.Transaction), k.NextKeyHash != nil)
	}
	for _, c := range d.Control {
		fmt.Fprintf(&b, "control %s by %s -> %s\n", c.Kind, w.authorityName(c.Authority), c.State)
	}
	if q := d.Quarantine; q != nil {
		twins := []string{w.name(q.Transactions[0]), w.name(q.Transactions[1])}
		slices.Sort(twins)
		fmt.Fprintf(&b, "quarantine seq %d: %s, %d notices\n", q.Seq, strings.Join(twins, " "), len(q.Notices))
	}
	return b.String()
}

func (w *world) authorityName(key dag.PublicKey) string {
	for name, k := range w.authKey {
		if dagtest.PublicKey(k) == key {
			return name
		}
	}
	return key.String()[:8]
}

func (w *world) keyLabel(key dag.PublicKey) string {
	for label := range w.chains {
		if devicePublicKey(label) == key {
			return label
		}
	}
	for _, label := range []string{"k1", "k2", "k3", "k4", "thief"} {
		if devicePublicKey(label) == key {
			return label
		}
	}
	return key.String()[:8]
}
