package evidence_test

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"slices"
	"testing"

	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/dag/dagtest"
	"github.com/tangled-ledger/tangled/evidence"
	"github.com/tangled-ledger/tangled/merkle"
)

// cosigned is a logged ledger whose newest closed checkpoint the
// validators signed (claims issued as the validators' chains continue).
type cosigned struct {
	*logged
	net    *dagtest.Network
	chains []*dagtest.Issuer
	cp     evidence.Checkpoint
	at     int64 // issuing time of the next claim
}

func newCosigned(t testing.TB) *cosigned {
	t.Helper()
	net, txs := testNet(t, 600)
	l := newLogged(t, net.Genesis)
	l.deliver(t, txs)
	c := &cosigned{logged: l, net: net, at: txs[len(txs)-1].Time}
	// The validators' chains continue from the stream's last beacons.
	for _, key := range net.Validators {
		is := &dagtest.Issuer{Key: key}
		pub := dagtest.PublicKey(key)
		if st, ok := l.ledger.IssuerState(pub, 0); ok {
			is.Seq, is.Prev = st.NextSeq, st.Prev
		}
		c.chains = append(c.chains, is)
	}
	var sizes []uint64
	for s := range l.closed {
		sizes = append(sizes, s)
	}
	slices.Sort(sizes)
	if len(sizes) == 0 {
		t.Fatal("no checkpoint closed")
	}
	size := sizes[len(sizes)-1]
	c.cp = evidence.Checkpoint{Origin: evidence.Origin(net.Genesis), Size: size, Root: l.closed[size]}
	return c
}

// claim is validator v's checkpoint transaction for cp, signed with sig
// (nil: the right signature).
func (c *cosigned) claim(t testing.TB, v int, cp evidence.Checkpoint, sig []byte) *dag.Transaction {
	t.Helper()
	if sig == nil {
		sig = evidence.SignCheckpoint(c.net.Validators[v], cp)
	}
	root := c.ledger.Root()
	tx := c.chains[v].Issue(dag.KindCheckpoint, root, root, c.next(), evidence.CheckpointPayload(cp, sig))
	if _, err := c.ledger.AttachVerified([]*dag.Transaction{tx}).Wait(); err != nil {
		t.Fatal(err)
	}
	return tx
}

func (c *cosigned) next() int64 { c.at += 1e6; return c.at }

func kinds(ms []evidence.Misbehaviour) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Kind)
	}
	return out
}

// TestCosignaturesAndMisbehaviour: a checkpoint is final once validators
// over the threshold signed it, the note grows to every signer, and each
// kind of wrong signature is caught with the validator's own transactions
// as the proof, kept in the store.
func TestCosignaturesAndMisbehaviour(t *testing.T) {
	c := newCosigned(t)
	log := c.log
	for v := range 2 {
		if found, err := log.AddClaim(c.claim(t, v, c.cp, nil)); err != nil || len(found) != 0 {
			t.Fatalf("validator %d's honest claim: %v, %v", v, kinds(found), err)
		}
	}
	if _, _, ok := log.Latest(); ok {
		t.Fatal("final with 2 of 4 signatures; the threshold is more than 2/3")
	}
	if found, err := log.AddClaim(c.claim(t, 2, c.cp, nil)); err != nil || len(found) != 0 {
		t.Fatalf("third claim: %v, %v", kinds(found), err)
	}
	f, note, ok := log.Latest()
	if !ok || f.Size != c.cp.Size || f.Root != c.cp.Root || !slices.Equal(f.Signers, []int{0, 1, 2}) {
		t.Fatalf("final %+v, %v", f, ok)
	}
	if opened, err := evidence.OpenCheckpoint(c.net.Genesis, note); err != nil || opened.Size != f.Size {
		t.Fatalf("the final note does not open: %v", err)
	}

	// Validator 3 signs another root for the same size, then the right
	// one: both are evidence of two roots; its wrong root alone is too.
	other := c.cp
	other.Root = merkle.LeafHash([]byte("not the log"))
	wrong := c.claim(t, 3, other, nil)
	found, err := log.AddClaim(wrong)
	if err != nil || !slices.Equal(kinds(found), []string{evidence.WrongRoot}) {
		t.Fatalf("a wrong root: %v, %v", kinds(found), err)
	}
	found, err = log.AddClaim(c.claim(t, 3, c.cp, nil))
	if err != nil || !slices.Equal(kinds(found), []string{evidence.TwoRoots}) {
		t.Fatalf("two roots: %v, %v", kinds(found), err)
	}
	if f, _, _ := log.Latest(); len(f.Signers) != 4 {
		t.Errorf("the final note did not take the fourth signature: %v", f.Signers)
	}
	// A note signature by another key inside validator 1's transaction.
	_, stranger, _ := ed25519.GenerateKey(nil)
	found, err = log.AddClaim(c.claim(t, 1, c.cp, evidence.SignCheckpoint(stranger, c.cp)))
	if err != nil || !slices.Equal(kinds(found), []string{evidence.BadSignature}) {
		t.Fatalf("bad signature: %v, %v", kinds(found), err)
	}
	// A claim beyond the log waits, and is judged when the log gets there.
	ahead := evidence.Checkpoint{Origin: c.cp.Origin, Size: log.Size() + 1000, Root: c.cp.Root}
	if found, err := log.AddClaim(c.claim(t, 2, ahead, nil)); err != nil || len(found) != 0 {
		t.Fatalf("a claim beyond the log: %v, %v", kinds(found), err)
	}

	stored, err := log.Misbehaviours()
	if err != nil {
		t.Fatal(err)
	}
	if got := kinds(stored); len(got) != 3 {
		t.Fatalf("stored evidence %v", got)
	}
	for _, m := range stored {
		for _, raw := range m.Transactions {
			tx, err := dag.Decode(raw, dag.DefaultMaxPayload)
			if err != nil || !dag.VerifySignature(tx) || tx.Issuer != c.net.Genesis.Validators[m.Validator].PublicKey {
				t.Errorf("%s evidence holds a transaction that is not the validator's own: %v", m.Kind, err)
			}
		}
		if m.Kind == evidence.TwoRoots && (len(m.Transactions) != 2 || bytes.Equal(m.Transactions[0], m.Transactions[1])) {
			t.Errorf("two-roots evidence holds %d transactions", len(m.Transactions))
		}
	}

	// Reopened on the same store: the final checkpoint and the evidence
	// are still there.
	again, err := evidence.Open(c.net.Genesis, c.store)
	if err != nil {
		t.Fatal(err)
	}
	if f2, note2, ok := again.Latest(); !ok || f2.Size != c.cp.Size || !bytes.Equal(note2, mustNote(log)) {
		t.Errorf("reopened: final %+v, %v", f2, ok)
	}
	if ms, _ := again.Misbehaviours(); len(ms) != 3 {
		t.Errorf("reopened: %d pieces of evidence", len(ms))
	}
	if _, err := log.AddClaim(c.chains[0].Build(dag.KindData, c.ledger.Root(), c.ledger.Root(), c.next(), nil)); !errors.Is(err, evidence.ErrCheckpoint) {
		t.Errorf("a data transaction as a claim: %v", err)
	}
}

func mustNote(l *evidence.Log) []byte {
	_, note, _ := l.Latest()
	return note
}
