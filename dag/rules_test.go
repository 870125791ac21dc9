package dag_test

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/dag/dagtest"
	"github.com/tangled-ledger/tangled/storage"
)

// recordingRules refuses payloads "forbidden" with a code of its own,
// refuses a transaction whose predecessor it has not applied (a rule that
// reads the past), and records what it is asked.
type recordingRules struct {
	checked []dag.ID
	applied []dag.ID
}

func (r *recordingRules) Check(tx *dag.Transaction, past dag.PastView) error {
	r.checked = append(r.checked, tx.ID())
	if bytes.Equal(tx.Payload, []byte("forbidden")) {
		return &dag.Rejection{Code: "test_forbidden", Fault: dag.FaultSender, Message: "test: forbidden payload"}
	}
	if tx.Seq > 0 {
		if _, ok := past.Info(tx.Prev); !ok || !slices.Contains(r.applied, tx.Prev) {
			return &dag.Rejection{Code: "test_no_prev", Fault: dag.FaultNone, Message: "test: predecessor not applied"}
		}
	}
	return nil
}

func (r *recordingRules) Apply(tx *dag.Transaction, past dag.ApplyView) dag.Applied {
	if _, ok := past.Info(tx.ID()); !ok {
		panic("Apply before the transaction is attached")
	}
	r.applied = append(r.applied, tx.ID())
	return dag.Applied{Tag: uint32(len(r.applied))}
}

func (r *recordingRules) Equivocation(a, b dag.ID, past dag.PastView) {}

// TestRuleLayer: the ledger consults the rule layer after its own rules,
// a rejection keeps the layer's code and changes nothing, Apply sees every
// attached transaction in attach order (parked ones when they attach), and
// on replay the layer is rebuilt by Apply alone.
func TestRuleLayer(t *testing.T) {
	net := dagtest.NewNetwork(1, dagtestRules())
	store := storage.NewMemory()
	now := func() time.Time { return dagtest.GenesisTime.Add(time.Hour) }
	rules := &recordingRules{}
	l, err := dag.Open(dag.Config{Genesis: net.Genesis, Store: store, Now: now, Rules: rules})
	if err != nil {
		t.Fatal(err)
	}
	root := l.Root()
	dev := dagtest.NewIssuer("dev", dagtestRules())
	a := dev.Issue(dag.KindData, root, root, at(time.Second), []byte("a"))
	b := dev.Issue(dag.KindData, a.ID(), root, at(2*time.Second), []byte("b"))
	bad := dagtest.NewIssuer("bad", dagtestRules()).Issue(dag.KindData, root, root, at(time.Second), []byte("forbidden"))
	lazy := dagtest.NewIssuer("lazy", dagtestRules()).Build(dag.KindData, root, root, at(time.Second), []byte("x"))
	for powOK(lazy, dagtestRules().Required(1, 0)) {
		lazy.Nonce++
	}

	// b arrives first and parks; a releases it.
	res, err := l.AttachVerified([]*dag.Transaction{b, bad, lazy, a}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Status != dag.StatusParked || res[3].Status != dag.StatusAttached {
		t.Fatalf("results %+v", res)
	}
	if dag.Code(res[1].Err) != "test_forbidden" || dag.FaultOf(res[1].Err) != dag.FaultSender {
		t.Errorf("forbidden: %+v", res[1])
	}
	if dag.Code(res[2].Err) != "insufficient_work" {
		t.Errorf("lazy: %+v", res[2])
	}
	if slices.Contains(rules.checked, lazy.ID()) {
		t.Error("the rule layer was asked about a transaction the ledger's own rules refused")
	}
	if _, ok := l.Info(bad.ID()); ok {
		t.Error("a transaction the rule layer refused was attached")
	}
	if want := []dag.ID{a.ID(), b.ID()}; !slices.Equal(rules.applied, want) {
		t.Errorf("applied %v, want %v (attach order)", rules.applied, want)
	}

	// Replay: Apply rebuilds the layer in the stored order; Check is not
	// asked again.
	again := &recordingRules{}
	if _, err := dag.Open(dag.Config{Genesis: net.Genesis, Store: store, Now: now, Rules: again}); err != nil {
		t.Fatal(err)
	}
	if len(again.checked) != 0 {
		t.Errorf("replay checked %d transactions", len(again.checked))
	}
	if !slices.Equal(again.applied, rules.applied) {
		t.Errorf("replay applied %v, want %v", again.applied, rules.applied)
	}
}
