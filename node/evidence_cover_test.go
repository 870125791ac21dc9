package node

import (
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/dag/dagtest"
	"github.com/tangled-ledger/tangled/evidence"
	"github.com/tangled-ledger/tangled/pow"
	"github.com/tangled-ledger/tangled/storage"
)

// TestAnchorCoverTakesStarved: the orderer's next anchor approves the
// newest uncovered transaction, and every other round, if anchors have
// passed one over starvedAfter times, the oldest such. The case it is for: a
// device's last reading before its revocation, confirmed, whose only
// approvers the revocation ruled out, so no later confirmed transaction
// reaches it, while the beacons it keeps coming confirm newer ones that
// would always be chosen first (TestClusterDeviceLifecycle never settled
// so in 2 of 24 runs).
func TestAnchorCoverTakesStarved(t *testing.T) {
	store, err := storage.Open(t.TempDir(), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	log, err := evidence.Open(dagtest.NewNetwork(1, pow.Rules{BaseBits: 4}).Genesis, store.Aux())
	if err != nil {
		t.Fatal(err)
	}
	a := &audit{log: log, orderer: true, uncovered: map[dag.ID]uncovered{}}
	id := func(i int) (x dag.ID) { binary.BigEndian.PutUint32(x[:], uint32(i)+1); return x }
	confirm := func(i int, parents ...int) {
		info := dag.Info{ID: id(i)}
		if len(parents) > 0 {
			info.Trunk, info.Branch = id(parents[0]), id(parents[len(parents)-1])
		}
		a.noteConfirmed(info)
	}
	want := func(step string, i int) {
		t.Helper()
		if got := a.nextCover(); got != id(i) {
			t.Fatalf("%s: cover %s, want %s", step, got.Short(), id(i).Short())
		}
	}

	if got := a.nextCover(); !got.IsZero() {
		t.Fatalf("nothing uncovered: cover %s", got.Short())
	}
	confirm(1)    // the reading whose approvers are ruled out
	confirm(2)    // a beacon, on something else
	confirm(3, 2) // approves 2: 2 leaves
	want("newest", 3)
	// An anchor on 3 is logged: 3 leaves (the log's hook); 1 stays.
	delete(a.uncovered, id(3))
	a.passedOver()
	confirm(4)
	want("passed over once", 4)
	delete(a.uncovered, id(4))
	a.passedOver()
	confirm(5)
	confirm(6)
	want("passed over twice, but the newest's turn", 6)
	a.passedOver()
	want("the starved one's turn", 1)
	delete(a.uncovered, id(1))
	want("starved ones taken in", 6)
	// 5 and 6 were passed over once; 7 and 8 are new. After two more
	// rounds, on the starved ones' turn, the oldest of them comes first.
	confirm(7)
	a.passedOver()
	confirm(8)
	want("the newest's turn", 8)
	a.passedOver()
	want("the oldest starved", 5)
	for i := 9; i < 9+unloggedMax; i++ {
		confirm(i)
	}
	if len(a.uncovered) > unloggedMax {
		t.Fatalf("%d uncovered, at most %d", len(a.uncovered), unloggedMax)
	}
	want(fmt.Sprintf("with %d uncovered", len(a.uncovered)), 5)
}
