package evidence

import (
	"container/heap"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/merkle"
)

// CheckpointInterval spaces checkpoints: an anchor closes one when its
// issuing time falls in another interval (counted from the Unix epoch)
// than its chain predecessor's. A protocol constant: every validator must
// pick the same sizes to sign, or their signatures never meet.
const CheckpointInterval = time.Second

// Errors of the log.
var (
	// ErrNotLogged: the transaction is not in the log (yet).
	ErrNotLogged = errors.New("evidence: transaction not in the log")
	// ErrOrdererFork: the orderer's chain forks below the log's anchor;
	// the log stops rather than follow one branch.
	ErrOrdererFork = errors.New("evidence: the orderer's chain forks")
	// ErrRange: a size or index beyond the log.
	ErrRange = errors.New("evidence: beyond the log")
)

// Ledger is what the log reads of the ledger (*dag.Ledger satisfies it).
type Ledger interface {
	Info(id dag.ID) (dag.Info, bool)
	Transaction(id dag.ID) (*dag.Transaction, error)
	Root() dag.ID
}

// state is the log's progress, written last in every anchor's batch.
type state struct {
	size       uint64
	anchored   bool // an anchor has been appended
	anchorSeq  uint64
	anchor     dag.ID
	anchorTime int64
}

const stateLen = 8 + 1 + 8 + dag.IDSize + 8

func (s state) encode() []byte {
	b := binary.BigEndian.AppendUint64(make([]byte, 0, stateLen), s.size)
	if s.anchored {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	b = binary.BigEndian.AppendUint64(b, s.anchorSeq)
	b = append(b, s.anchor[:]...)
	return binary.BigEndian.AppendUint64(b, uint64(s.anchorTime))
}

func decodeState(b []byte) (state, error) {
	if len(b) != stateLen || b[8] > 1 {
		return state{}, fmt.Errorf("evidence: stored log state is %d bytes, not %d", len(b), stateLen)
	}
	s := state{size: binary.BigEndian.Uint64(b), anchored: b[8] == 1, anchorSeq: binary.BigEndian.Uint64(b[9:])}
	copy(s.anchor[:], b[17:])
	s.anchorTime = int64(binary.BigEndian.Uint64(b[17+dag.IDSize:]))
	return s, nil
}

// Log is the audit log of one node. Its methods are safe for concurrent
// use; Advance calls are serialised by the caller (one goroutine appends).
type Log struct {
	genesis *dag.Genesis
	origin  string
	orderer dag.PublicKey
	store   Store

	// blockLevel is CompactLevel (smaller in tests).
	blockLevel uint8

	mu sync.RWMutex
	st state
	// compacted is the end of the compacted blocks (compact.go).
	compacted uint64
	recent    recentSet // IDs logged lately: the walk's stop test, without a read
	leaves    leafCache // leaf hashes of attached transactions not logged yet
	// onLogged is OnLogged's function; nil for none.
	onLogged func(id dag.ID, index uint64)

	// claimMu serialises cosignature bookkeeping; waiting holds the sizes
	// of claims beyond the log, judged once it reaches them.
	claimMu sync.Mutex
	waiting map[uint64]struct{}

	finalMu   sync.RWMutex
	final     Final
	finalNote []byte
}

// Open opens the log kept in store for the network of g.
func Open(g *dag.Genesis, store Store) (*Log, error) {
	if len(g.Validators) == 0 {
		return nil, fmt.Errorf("evidence: the genesis names no validator to order the log")
	}
	l := &Log{genesis: g, origin: Origin(g), orderer: g.Validators[0].PublicKey, store: store, recent: newRecentSet(1 << 16), leaves: leafCache{limit: 1 << 16, cur: map[dag.ID]merkle.Hash{}}, blockLevel: CompactLevel}
	if err := l.loadCompacted(); err != nil {
		return nil, err
	}
	raw, ok, err := store.Get([]byte{keyState})
	if err != nil {
		return nil, err
	}
	if ok {
		if l.st, err = decodeState(raw); err != nil {
			return nil, err
		}
	}
	l.waiting = map[uint64]struct{}{}
	if note, ok, err := store.Get([]byte{keyFinal}); err != nil {
		return nil, err
	} else if ok {
		f, err := OpenCheckpoint(g, note)
		if err != nil {
			return nil, fmt.Errorf("evidence: the stored final checkpoint: %w", err)
		}
		l.final, l.finalNote = f, note
	}
	// Claims past the final checkpoint wait to be judged again: the
	// scan covers only what is not final yet, not all history.
	from := claimKey(l.final.Size+1, 0, dag.ID{})
	err = store.Scan(from, []byte{keyClaim + 1}, func(key, _ []byte) error {
		if len(key) >= 9 {
			l.waiting[binary.BigEndian.Uint64(key[1:])] = struct{}{}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if _, err := l.Grown(); err != nil {
		return nil, err
	}
	return l, nil
}

// Orderer is the key whose chain orders the log.
func (l *Log) Orderer() dag.PublicKey { return l.orderer }

// Origin is the log's name in checkpoints.
func (l *Log) Origin() string { return l.origin }

// Size is the number of logged transactions.
func (l *Log) Size() uint64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.st.size
}

// Anchor is the orderer's transaction the log has reached (false before
// the first).
func (l *Log) Anchor() (id dag.ID, seq uint64, ok bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.st.anchor, l.st.anchorSeq, l.st.anchored
}

// IsAnchor reports whether an orderer's transaction anchors the log: its
// checkpoint transactions do. The orderer gives each the previous anchor
// as trunk and a confirmed transaction as branch, so an anchor approves
// only what is confirmed already or will be with it: it is never ruled
// out (as a beacon that approved a device's transaction just before its
// revocation is), and confirming one confirms every earlier one.
func IsAnchor(i dag.Info) bool { return i.Kind == dag.KindCheckpoint }

// Advance appends, one by one in chain order, the anchors from the log's
// anchor up to the orderer's transaction newest that are confirmed, and
// returns the checkpoints they closed. It stops below the first anchor
// that is not confirmed yet (with an honest orderer, confirmation comes in
// chain order anyway, through the trunks): the log's order must not
// depend on which anchors a node confirmed first. The caller passes the
// orderer's newest confirmed anchor it knows.
func (l *Log) Advance(ledger Ledger, newest dag.ID) ([]Checkpoint, error) {
	info, ok := ledger.Info(newest)
	if !ok || info.Issuer != l.orderer {
		return nil, fmt.Errorf("evidence: %s is not a transaction of the orderer", newest.Short())
	}
	l.mu.RLock()
	st := l.st
	l.mu.RUnlock()
	if st.anchored && info.Seq <= st.anchorSeq {
		return nil, nil
	}
	// The orderer's anchors (its checkpoint transactions) from newest down
	// to the log's anchor, then appended upwards while confirmed.
	var chain []dag.Info
	for cur := info; ; {
		if st.anchored && cur.Seq == st.anchorSeq {
			if cur.ID != st.anchor {
				return nil, fmt.Errorf("%w: its transaction %d is %s, the log's anchor is %s", ErrOrdererFork, cur.Seq, cur.ID.Short(), st.anchor.Short())
			}
			break
		}
		if IsAnchor(cur) {
			chain = append(chain, cur)
		}
		if cur.Seq == 0 {
			break
		}
		prev, ok := ledger.Info(cur.Prev)
		if !ok {
			return nil, fmt.Errorf("evidence: the orderer's %s is not attached", cur.Prev.Short())
		}
		cur = prev
	}
	// One store write for all the anchors (unless it grows large): the
	// state goes last, so a crash redoes them with the same result.
	var closed []Checkpoint
	run := newAppend(l, st)
	for i := len(chain) - 1; i >= 0 && chain[i].Confirmed; i-- {
		c, err := run.anchor(ledger, chain[i])
		if err != nil {
			return closed, err
		}
		if c != nil {
			closed = append(closed, *c)
		}
		if len(run.b.keys) >= maxBatchWrites {
			if err := run.commit(); err != nil {
				return closed, err
			}
			run = newAppend(l, run.st)
		}
	}
	return closed, run.commit()
}

// maxBatchWrites bounds one store write of the log (Badger splits larger
// ones anyway; this bounds the memory of a long catch-up).
const maxBatchWrites = 1 << 16

// appendRun appends anchors into one batch.
type appendRun struct {
	l     *Log
	start uint64 // the log's size before the run
	st    state
	b     *batch
	tree  *merkle.Tree
	fresh []dag.ID // logged in this run, not yet in recent
	in    map[dag.ID]struct{}
}

func newAppend(l *Log, st state) *appendRun {
	b := newBatch(l.store)
	return &appendRun{l: l, start: st.size, st: st, b: b, tree: merkle.New(b, st.size), in: map[dag.ID]struct{}{}}
}

func (r *appendRun) commit() error {
	if len(r.b.keys) == 0 {
		return nil
	}
	r.b.put([]byte{keyState}, r.st.encode())
	if err := r.l.store.Write(r.b.keys, r.b.values); err != nil {
		return err
	}
	r.l.mu.Lock()
	r.l.st = r.st
	for _, id := range r.fresh {
		r.l.recent.add(id)
		delete(r.l.leaves.cur, id)
		delete(r.l.leaves.old, id)
	}
	r.l.mu.Unlock()
	if r.l.onLogged != nil {
		for i, id := range r.fresh {
			r.l.onLogged(id, r.start+uint64(i))
		}
	}
	return nil
}

// RecentlyLogged reports whether id is among the transactions the log
// appended lately (at least the last 65,536), without a store read.
func (l *Log) RecentlyLogged(id dag.ID) bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.recent.has(id)
}

// OnLogged sets a function that Advance calls, on its goroutine, for
// every transaction it has appended (durably), with its position. Set it
// before the first Advance.
func (l *Log) OnLogged(fn func(id dag.ID, index uint64)) { l.onLogged = fn }

// closes reports whether an anchor issued at t after one issued at prev
// (none: the first anchor) closes a checkpoint.
func closes(anchored bool, prev, t int64) bool {
	iv := int64(CheckpointInterval)
	return !anchored || floorDiv(t, iv) != floorDiv(prev, iv)
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

// anchor logs anchor's past that the log lacks, in the canonical order.
func (r *appendRun) anchor(ledger Ledger, anchor dag.Info) (*Checkpoint, error) {
	l := r.l
	order, err := l.newPast(ledger, anchor.ID, r.in)
	if err != nil {
		return nil, err
	}
	for _, id := range order {
		leaf, err := l.leafOf(ledger, id)
		if err != nil {
			return nil, err
		}
		index := r.tree.Size()
		r.b.leafIDs[index] = id
		if err := r.tree.Append(leaf); err != nil {
			return nil, err
		}
		r.b.put(indexKey(id), binary.BigEndian.AppendUint64(nil, index))
		r.in[id] = struct{}{}
		r.fresh = append(r.fresh, id)
	}
	if r.b.err != nil {
		return nil, r.b.err
	}
	prev := r.st
	r.st = state{size: r.tree.Size(), anchored: true, anchorSeq: anchor.Seq, anchor: anchor.ID, anchorTime: anchor.Time}
	if !closes(prev.anchored, prev.anchorTime, anchor.Time) || r.st.size == 0 {
		return nil, nil
	}
	root, err := r.tree.Root()
	if err != nil {
		return nil, err
	}
	return &Checkpoint{Origin: l.origin, Size: r.st.size, Root: root}, nil
}

// NoteAttached remembers an attached transaction's leaf hash, so that
// logging it does not read it back from the store. Cheap (one SHA-256 of
// its bytes); the node calls it for every attached transaction.
func (l *Log) NoteAttached(tx *dag.Transaction) {
	h := merkle.LeafHash(tx.Bytes())
	l.mu.Lock()
	l.leaves.add(tx.ID(), h)
	l.mu.Unlock()
}

func (l *Log) leafOf(ledger Ledger, id dag.ID) (merkle.Hash, error) {
	l.mu.RLock()
	h, ok := l.leaves.get(id)
	l.mu.RUnlock()
	if ok {
		return h, nil
	}
	tx, err := ledger.Transaction(id)
	if err != nil {
		return merkle.Hash{}, fmt.Errorf("evidence: read %s to log it: %w", id.Short(), err)
	}
	return merkle.LeafHash(tx.Bytes()), nil
}

// leafCache holds about limit..2·limit leaf hashes in two generations.
type leafCache struct {
	limit    int
	cur, old map[dag.ID]merkle.Hash
}

func (c *leafCache) add(id dag.ID, h merkle.Hash) {
	if len(c.cur) >= c.limit {
		c.old, c.cur = c.cur, make(map[dag.ID]merkle.Hash, c.limit)
	}
	c.cur[id] = h
}

func (c *leafCache) get(id dag.ID) (merkle.Hash, bool) {
	if h, ok := c.cur[id]; ok {
		return h, true
	}
	h, ok := c.old[id]
	return h, ok
}

// newPast lists what the log lacks of anchor's approval cone (anchor and
// everything its parents reach, which confirmation covers: all of it is
// confirmed with the anchor), parents before children, and a predecessor
// before its successor where both are new, ties by lower ID: Kahn's
// algorithm with a heap over the new part.
func (l *Log) newPast(ledger Ledger, anchor dag.ID, in map[dag.ID]struct{}) ([]dag.ID, error) {
	root := ledger.Root()
	infos := map[dag.ID]dag.Info{}
	stack := []dag.ID{anchor}
	for len(stack) > 0 {
		id := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if id == root || id.IsZero() {
			continue
		}
		if _, seen := infos[id]; seen {
			continue
		}
		if _, done := in[id]; done {
			continue // logged by an earlier anchor of this run
		}
		logged, err := l.logged(id)
		if err != nil {
			return nil, err
		}
		if logged {
			continue
		}
		info, ok := ledger.Info(id)
		if !ok {
			return nil, fmt.Errorf("evidence: %s in an anchor's past is not attached", id.Short())
		}
		infos[id] = info
		stack = append(stack, info.Trunk, info.Branch)
	}
	// In-degree over the new part; each distinct reference counts once.
	pending := make(map[dag.ID]int, len(infos))
	children := make(map[dag.ID][]dag.ID, len(infos))
	for id, info := range infos {
		for i, ref := range refs(info) {
			if _, isNew := infos[ref]; !isNew || ref.IsZero() || dupRef(refs(info), i) {
				continue
			}
			pending[id]++
			children[ref] = append(children[ref], id)
		}
	}
	h := &idHeap{}
	for id := range infos {
		if pending[id] == 0 {
			heap.Push(h, id)
		}
	}
	order := make([]dag.ID, 0, len(infos))
	for h.Len() > 0 {
		id := heap.Pop(h).(dag.ID)
		order = append(order, id)
		for _, c := range children[id] {
			if pending[c]--; pending[c] == 0 {
				heap.Push(h, c)
			}
		}
	}
	if len(order) != len(infos) {
		return nil, fmt.Errorf("evidence: the past of %s is not acyclic", anchor.Short())
	}
	return order, nil
}

func refs(i dag.Info) [3]dag.ID { return [3]dag.ID{i.Trunk, i.Branch, i.Prev} }

func dupRef(r [3]dag.ID, i int) bool {
	for j := range i {
		if r[j] == r[i] {
			return true
		}
	}
	return false
}

func (l *Log) logged(id dag.ID) (bool, error) {
	l.mu.RLock()
	hit := l.recent.has(id)
	l.mu.RUnlock()
	if hit {
		return true, nil
	}
	v, ok, err := l.store.Get(indexKey(id))
	if err != nil || !ok || len(v) != 8 {
		return false, err
	}
	// An index at or past the size was written by an anchor whose batch a
	// crash cut short: not logged, to be logged again.
	return binary.BigEndian.Uint64(v) < l.Size(), nil
}

// IndexOf is a logged transaction's position.
func (l *Log) IndexOf(id dag.ID) (uint64, error) {
	v, ok, err := l.store.Get(indexKey(id))
	if err != nil {
		return 0, err
	}
	if !ok || len(v) != 8 {
		return 0, fmt.Errorf("%w: %s", ErrNotLogged, id.Short())
	}
	index := binary.BigEndian.Uint64(v)
	if index >= l.Size() {
		// Written by an anchor whose batch a crash cut short.
		return 0, fmt.Errorf("%w: %s", ErrNotLogged, id.Short())
	}
	return index, nil
}

// At is the transaction at a log position.
func (l *Log) At(index uint64) (dag.ID, error) {
	if index >= l.Size() {
		return dag.ID{}, fmt.Errorf("%w: index %d, size %d", ErrRange, index, l.Size())
	}
	v, ok, err := l.store.Get(nodeKey(0, index))
	if err != nil {
		return dag.ID{}, err
	}
	if !ok || len(v) != len(merkle.Hash{})+dag.IDSize {
		if l.inCompacted(0, index) {
			return dag.ID{}, fmt.Errorf("%w: log position %d", ErrCompacted, index)
		}
		return dag.ID{}, fmt.Errorf("evidence: log position %d is not stored", index)
	}
	var id dag.ID
	copy(id[:], v[len(merkle.Hash{}):])
	return id, nil
}

func (l *Log) reader() (*merkle.Tree, *readNodes, uint64) {
	r := &readNodes{log: l}
	size := l.Size()
	return merkle.New(r, size), r, size
}

// RootAt is the root of the log's first size leaves.
func (l *Log) RootAt(size uint64) (merkle.Hash, error) {
	tree, r, have := l.reader()
	if size > have {
		return merkle.Hash{}, fmt.Errorf("%w: size %d, the log has %d", ErrRange, size, have)
	}
	h, err := tree.RootAt(size)
	return h, r.done(err)
}

// InclusionProof proves leaf index is in the log of size leaves.
func (l *Log) InclusionProof(index, size uint64) ([]merkle.Hash, error) {
	tree, r, have := l.reader()
	if size > have || index >= size {
		return nil, fmt.Errorf("%w: index %d in size %d, the log has %d", ErrRange, index, size, have)
	}
	p, err := tree.InclusionProof(index, size)
	return p, r.done(err)
}

// ConsistencyProof proves the log of size m is a prefix of the log of
// size n.
func (l *Log) ConsistencyProof(m, n uint64) ([]merkle.Hash, error) {
	tree, r, have := l.reader()
	if n > have || m > n {
		return nil, fmt.Errorf("%w: from %d to %d, the log has %d", ErrRange, m, n, have)
	}
	p, err := tree.ConsistencyProof(m, n)
	return p, r.done(err)
}

type idHeap []dag.ID

func (h idHeap) Len() int           { return len(h) }
func (h idHeap) Less(i, j int) bool { return h[i].Compare(h[j]) < 0 }
func (h idHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *idHeap) Push(x any)        { *h = append(*h, x.(dag.ID)) }
func (h *idHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// recentSet remembers about limit..2·limit IDs in two generations.
type recentSet struct {
	limit    int
	cur, old map[dag.ID]struct{}
}

func newRecentSet(limit int) recentSet {
	return recentSet{limit: limit, cur: map[dag.ID]struct{}{}}
}

func (s *recentSet) add(id dag.ID) {
	if len(s.cur) >= s.limit {
		s.old, s.cur = s.cur, make(map[dag.ID]struct{}, s.limit)
	}
	s.cur[id] = struct{}{}
}

func (s *recentSet) has(id dag.ID) bool {
	if _, ok := s.cur[id]; ok {
		return true
	}
	_, ok := s.old[id]
	return ok
}
