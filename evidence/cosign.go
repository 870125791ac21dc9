package evidence

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/merkle"
)

// Misbehaviour kinds: what a validator's own signed checkpoint
// transactions prove against it.
const (
	// TwoRoots: two different roots signed for one log size.
	TwoRoots = "two_roots"
	// WrongRoot: a root that is not the log's at that size (the log is a
	// function of the DAG, so every honest node computes the same one).
	WrongRoot = "wrong_root"
	// BadSignature: a checkpoint transaction whose note signature does not
	// verify (the transaction itself is signed, so it is the validator's).
	BadSignature = "bad_signature"
)

// Misbehaviour is evidence against a validator: its own signed
// transactions, kept whole so that the proof outlives pruning.
type Misbehaviour struct {
	Kind      string
	Validator int
	Size      uint64
	// Transactions are the validator's checkpoint transactions (canonical
	// bytes): two for TwoRoots, one otherwise.
	Transactions [][]byte
}

// claim is a validator's statement from a checkpoint transaction.
type claim struct {
	size      uint64
	validator int
	root      merkle.Hash
	sig       [ed25519.SignatureSize]byte
	tx        dag.ID
	raw       []byte
}

func (c claim) value() []byte {
	v := append(append(make([]byte, 0, 32+64+len(c.raw)), c.root[:]...), c.sig[:]...)
	return append(v, c.raw...)
}

func (l *Log) decodeClaim(key, value []byte) (claim, error) {
	if len(key) != 1+8+2+dag.IDSize || len(value) < 96 {
		return claim{}, fmt.Errorf("evidence: stored claim of %d and %d bytes", len(key), len(value))
	}
	c := claim{size: binary.BigEndian.Uint64(key[1:]), validator: int(binary.BigEndian.Uint16(key[9:])), raw: value[96:]}
	if c.validator >= len(l.genesis.Validators) {
		return claim{}, fmt.Errorf("evidence: stored claim of validator %d, the genesis has %d", c.validator, len(l.genesis.Validators))
	}
	copy(c.tx[:], key[11:])
	copy(c.root[:], value)
	copy(c.sig[:], value[32:96])
	return c, nil
}

// AddClaim takes a checkpoint transaction (attached: its signature and
// work verified) into the log's cosignatures, and returns what it proves
// against its validator, if anything (the proof is stored too).
func (l *Log) AddClaim(tx *dag.Transaction) ([]Misbehaviour, error) {
	v, ok := l.validatorIndex(tx.Issuer)
	if !ok || tx.Kind != dag.KindCheckpoint {
		return nil, fmt.Errorf("%w: %s is not a validator's checkpoint transaction", ErrCheckpoint, tx.ID().Short())
	}
	size, root, sig, err := ParseCheckpointPayload(tx.Payload)
	if err != nil {
		return nil, err
	}
	c := claim{size: size, validator: v, root: root, sig: sig, tx: tx.ID(), raw: tx.Bytes()}
	l.claimMu.Lock()
	defer l.claimMu.Unlock()
	if _, seen, err := l.store.Get(claimKey(size, v, c.tx)); err != nil || seen {
		return nil, err
	}
	if !VerifyCosignature(tx.Issuer, Checkpoint{Origin: l.origin, Size: size, Root: root}, sig[:]) {
		m := Misbehaviour{Kind: BadSignature, Validator: v, Size: size, Transactions: [][]byte{c.raw}}
		return []Misbehaviour{m}, l.storeMisbehaviour(m, c.tx)
	}
	if fs, _ := l.finalState(); size < fs && !l.Servable(size) {
		// Compacted: its root is gone and so are the other claims of
		// its size (dropClaims), so there is nothing to judge it by.
		return nil, nil
	}
	var found []Misbehaviour
	err = l.store.Scan(claimKey(size, v, dag.ID{}), claimKey(size, v+1, dag.ID{}), func(key, value []byte) error {
		other, err := l.decodeClaim(key, value)
		if err == nil && other.root != root {
			found = append(found, Misbehaviour{Kind: TwoRoots, Validator: v, Size: size, Transactions: [][]byte{other.raw, c.raw}})
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if err := l.store.Write([][]byte{claimKey(size, v, c.tx)}, [][]byte{c.value()}); err != nil {
		return nil, err
	}
	for _, m := range found {
		if err := l.storeMisbehaviour(m, c.tx); err != nil {
			return nil, err
		}
	}
	more, err := l.judgeSize(size)
	return append(found, more...), err
}

func (l *Log) validatorIndex(key dag.PublicKey) (int, bool) {
	for i, v := range l.genesis.Validators {
		if v.PublicKey == key {
			return i, true
		}
	}
	return 0, false
}

func (l *Log) storeMisbehaviour(m Misbehaviour, id dag.ID) error {
	key := binary.BigEndian.AppendUint64([]byte{keyMisbehave}, m.Size)
	key = binary.BigEndian.AppendUint16(key, uint16(m.Validator))
	key = append(key, id[:]...)
	val := []byte(m.Kind)
	for _, raw := range m.Transactions {
		val = binary.BigEndian.AppendUint32(append(val, 0), uint32(len(raw)))
		val = append(val, raw...)
	}
	return l.store.Write([][]byte{key}, [][]byte{val})
}

// Misbehaviours lists the stored evidence against validators, by size.
func (l *Log) Misbehaviours() ([]Misbehaviour, error) {
	var out []Misbehaviour
	err := l.store.Scan([]byte{keyMisbehave}, []byte{keyMisbehave + 1}, func(key, val []byte) error {
		if len(key) != 1+8+2+dag.IDSize {
			return fmt.Errorf("evidence: stored misbehaviour key of %d bytes", len(key))
		}
		m := Misbehaviour{Size: binary.BigEndian.Uint64(key[1:]), Validator: int(binary.BigEndian.Uint16(key[9:]))}
		if m.Validator >= len(l.genesis.Validators) {
			return fmt.Errorf("evidence: stored misbehaviour of validator %d, the genesis has %d", m.Validator, len(l.genesis.Validators))
		}
		kind, rest, ok := bytes.Cut(val, []byte{0})
		m.Kind = string(kind)
		for ok {
			if len(rest) < 4 || len(rest) < 4+int(binary.BigEndian.Uint32(rest)) {
				return errors.New("evidence: stored misbehaviour is truncated")
			}
			n := int(binary.BigEndian.Uint32(rest))
			m.Transactions = append(m.Transactions, bytes.Clone(rest[4:4+n]))
			rest = rest[4+n:]
			if len(rest) == 0 {
				break
			}
			if rest[0] != 0 {
				return errors.New("evidence: stored misbehaviour is malformed")
			}
			rest = rest[1:]
		}
		out = append(out, m)
		return nil
	})
	return out, err
}

// judgeSize checks the claims of one size once the log has reached it:
// wrong roots are evidence, and matching ones may make it final. Called
// with claimMu held.
func (l *Log) judgeSize(size uint64) ([]Misbehaviour, error) {
	if size == 0 || size > l.Size() {
		if size > l.Size() {
			l.waiting[size] = struct{}{}
		}
		return nil, nil
	}
	delete(l.waiting, size)
	root, err := l.RootAt(size)
	if errors.Is(err, ErrCompacted) {
		return nil, nil // a claim for a size compacted meanwhile
	}
	if err != nil {
		return nil, err
	}
	var found []Misbehaviour
	var sigs []Cosignature
	var weight uint64
	err = l.store.Scan(claimKey(size, 0, dag.ID{}), claimKey(size+1, 0, dag.ID{}), func(key, value []byte) error {
		c, err := l.decodeClaim(key, value)
		if err != nil {
			return err
		}
		if c.root != root {
			id := c.tx
			if _, known, err := l.store.Get(misbehaviourKey(size, c.validator, id)); err != nil || known {
				return err
			}
			m := Misbehaviour{Kind: WrongRoot, Validator: c.validator, Size: size, Transactions: [][]byte{c.raw}}
			found = append(found, m)
			return l.storeMisbehaviour(m, id)
		}
		if len(sigs) == 0 || sigs[len(sigs)-1].Validator != c.validator {
			sigs = append(sigs, Cosignature{Validator: c.validator, Signature: c.sig})
			weight += l.genesis.Validators[c.validator].Weight
		}
		return nil
	})
	if err != nil {
		return found, err
	}
	// A larger final, or the same one with more signers: every node ends
	// with the same note once every validator's claim has reached it.
	if fs, fw := l.finalState(); ExceedsThreshold(l.genesis, weight) && (size > fs || size == fs && weight > fw) {
		f := Final{Checkpoint: Checkpoint{Origin: l.origin, Size: size, Root: root}, Weight: weight}
		for _, s := range sigs {
			f.Signers = append(f.Signers, s.Validator)
		}
		note := SignedNote(l.genesis, f.Checkpoint, sigs)
		if err := l.store.Write([][]byte{{keyFinal}}, [][]byte{note}); err != nil {
			return found, err
		}
		l.finalMu.Lock()
		l.final, l.finalNote = f, note
		l.finalMu.Unlock()
	}
	return found, nil
}

func misbehaviourKey(size uint64, validator int, id dag.ID) []byte {
	key := binary.BigEndian.AppendUint64([]byte{keyMisbehave}, size)
	key = binary.BigEndian.AppendUint16(key, uint16(validator))
	return append(key, id[:]...)
}

// Grown re-judges the claims that waited for the log to reach their size;
// the appender calls it after Advance.
func (l *Log) Grown() ([]Misbehaviour, error) {
	l.claimMu.Lock()
	defer l.claimMu.Unlock()
	size := l.Size()
	var ready []uint64
	for s := range l.waiting {
		if s <= size {
			ready = append(ready, s)
		}
	}
	slices.Sort(ready)
	var found []Misbehaviour
	for _, s := range ready {
		m, err := l.judgeSize(s)
		found = append(found, m...)
		if err != nil {
			return found, err
		}
	}
	return found, nil
}

func (l *Log) finalState() (size, weight uint64) {
	l.finalMu.RLock()
	defer l.finalMu.RUnlock()
	return l.final.Size, l.final.Weight
}

// Latest is the newest final checkpoint and its signed note; false before
// the first.
func (l *Log) Latest() (Final, []byte, bool) {
	l.finalMu.RLock()
	defer l.finalMu.RUnlock()
	return l.final, l.finalNote, l.final.Size > 0
}
