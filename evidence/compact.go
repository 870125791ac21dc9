package evidence

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/merkle"
)

// CompactLevel sets the log's compaction blocks: aligned runs of
// 2^CompactLevel (1,024) leaves. Within a compacted block the log keeps
// the block's root, the leaves it is asked to keep (their ID and index)
// and their sibling paths up to the block's root, and nothing else; every
// node at or above the block's level stays, so the tree extends and the
// root of every size that is a multiple of the block, or at or past the
// compacted blocks, is unchanged and servable. A larger block keeps fewer
// sizes servable and costs a kept leaf up to CompactLevel sibling hashes;
// a smaller one keeps more interior nodes (two per block, level by
// level, above the block) and compacts later only by a block.
// docs/design/2026-12-03-pruning.md weighs it.
const CompactLevel = 10

// ErrCompacted: the answer needs Merkle nodes or a leaf's index that
// compaction dropped with the pruned transactions they proved. It wraps
// dag.ErrPruned (the API's 410 pruned).
var ErrCompacted = fmt.Errorf("evidence: compacted with the pruned transactions it proved: %w", dag.ErrPruned)

// keyCompacted holds the end of the compacted blocks (a leaf count): a
// node missing below it was dropped by compaction, not lost.
const keyCompacted = 'c'

// CompactStats is what one Compact call did.
type CompactStats struct {
	// Blocks counts the blocks rewritten; Dropped the leaves whose index
	// and ID were removed; Kept the leaves of compacted blocks still
	// indexed (kept by the caller) after the call.
	Blocks, Dropped, Kept uint64
	// End is the end of the compacted blocks, in leaves.
	End uint64
	// Claims counts the old claims deleted (dropClaims).
	Claims uint64
}

// Compact drops from every complete block of the log below the final
// checkpoint what only the leaves keep refuses need: their index and ID, and the interior nodes
// that only their inclusion proofs read. keep is asked about every leaf
// still indexed in a complete block (the node keeps what its ledger
// still knows). It never changes the log's content: RootAt, proofs and
// consistency proofs answer what they answered, or ErrCompacted.
//
// It is idempotent and crash-safe: the end of the compacted blocks is
// written first, then per block the unneeded interior nodes and the
// dropped leaves' index keys are deleted, and last the dropped leaves'
// own entries (deleted, or cut to their hash where a kept leaf's path
// needs it), so a crash leaves a block that the next call finds with
// dropped leaves still to do, and redoes. Compact runs beside Advance (it
// touches only complete blocks, which appends never read below their
// roots) but not beside another Compact.
func (l *Log) Compact(keep func(id dag.ID) bool) (CompactStats, error) {
	del, ok := l.store.(Deleter)
	if !ok {
		return CompactStats{}, errors.New("evidence: the log's store cannot delete, so the log cannot compact")
	}
	k := l.blockLevel
	block := uint64(1) << k
	// Only below the final checkpoint: bundles prove against its size,
	// and auditors ask consistency from the sizes they hold, which are
	// recent checkpoints; the block holding it, and what follows, stay
	// whole.
	fs, _ := l.finalState()
	end := min(l.Size(), fs) / block * block
	var st CompactStats
	l.mu.RLock()
	st.End = l.compacted
	l.mu.RUnlock()
	if end == 0 {
		return st, nil
	}
	// The leaves still indexed in complete blocks, by block.
	byBlock := map[uint64][]indexedLeaf{}
	err := l.store.Scan(nodeKey(0, 0), nodeKey(0, end), func(key, value []byte) error {
		if len(value) != len(merkle.Hash{})+dag.IDSize {
			return nil // a dropped leaf's hash, kept for a kept one's path
		}
		var lf indexedLeaf
		lf.index = binary.BigEndian.Uint64(key[2:])
		copy(lf.id[:], value[len(merkle.Hash{}):])
		byBlock[lf.index>>k] = append(byBlock[lf.index>>k], lf)
		return nil
	})
	if err != nil {
		return st, err
	}
	var todo []uint64
	kept := map[uint64]map[uint64]bool{}
	for b, leaves := range byBlock {
		ks := map[uint64]bool{}
		dirty := false
		for _, lf := range leaves {
			if keep(lf.id) {
				ks[lf.index] = true
			} else {
				dirty = true
			}
		}
		kept[b] = ks
		if dirty {
			todo = append(todo, b)
		}
	}
	if len(todo) == 0 {
		st.Kept = l.keptBelow(byBlock, st.End)
		st.Claims, err = l.dropClaims(del)
		return st, err
	}
	if end > st.End {
		// First, so that a reader (or a reopened log) that meets a node
		// missing below it knows it was compacted.
		if err := l.store.Write([][]byte{{keyCompacted}}, [][]byte{binary.BigEndian.AppendUint64(nil, end)}); err != nil {
			return st, err
		}
		l.mu.Lock()
		l.compacted = end
		l.mu.Unlock()
		st.End = end
	}
	slices.Sort(todo)
	for _, b := range todo {
		dropped, err := l.compactBlock(del, b, byBlock[b], kept[b])
		if err != nil {
			return st, err
		}
		st.Blocks++
		st.Dropped += dropped
	}
	for b, ks := range kept {
		byBlock[b] = byBlock[b][:0]
		for i := range ks {
			byBlock[b] = append(byBlock[b], indexedLeaf{index: i})
		}
	}
	st.Kept = l.keptBelow(byBlock, st.End)
	st.Claims, err = l.dropClaims(del)
	return st, err
}

// dropClaims deletes the claims of sizes below both the final checkpoint
// and the compacted blocks: judged long ago (their verdicts, if any, are
// misbehaviour evidence, which stays), superseded by the final note, and
// mostly of sizes whose root is gone. What is lost is the two_roots check
// of a very late second claim for such a size against the first.
func (l *Log) dropClaims(del Deleter) (uint64, error) {
	fs, _ := l.finalState()
	below := min(fs, l.Compacted())
	if below == 0 {
		return 0, nil
	}
	l.claimMu.Lock()
	defer l.claimMu.Unlock()
	var keys [][]byte
	err := l.store.Scan([]byte{keyClaim}, claimKey(below, 0, dag.ID{}), func(key, _ []byte) error {
		keys = append(keys, key)
		return nil
	})
	if err != nil || len(keys) == 0 {
		return 0, err
	}
	return uint64(len(keys)), del.Delete(keys)
}

// indexedLeaf is a leaf whose entry still holds its ID.
type indexedLeaf struct {
	index uint64
	id    dag.ID
}

func (l *Log) keptBelow(byBlock map[uint64][]indexedLeaf, end uint64) uint64 {
	var n uint64
	for b, leaves := range byBlock {
		if (b+1)<<l.blockLevel <= end {
			n += uint64(len(leaves))
		}
	}
	return n
}

// compactBlock rewrites block b so that it holds only what the kept
// leaves' proofs need. leaves are the block's indexed leaves.
func (l *Log) compactBlock(del Deleter, b uint64, leaves []indexedLeaf, kept map[uint64]bool) (uint64, error) {
	k := l.blockLevel
	lo := b << k
	// need[level] holds the indices, at each level below the block's
	// root, of the siblings on the kept leaves' paths.
	need := make([]map[uint64]bool, k)
	for level := range need {
		need[level] = map[uint64]bool{}
	}
	for i := range kept {
		for level := uint8(0); level < k; level++ {
			need[level][(i>>level)^1] = true
		}
	}
	var interior, index, leafDel, cut [][]byte
	var cutValues [][]byte
	for level := uint8(1); level < k; level++ {
		from, to := nodeKey(level, lo>>level), nodeKey(level, (lo+1<<k)>>level)
		err := l.store.Scan(from, to, func(key, _ []byte) error {
			if !need[level][binary.BigEndian.Uint64(key[2:])] {
				interior = append(interior, key)
			}
			return nil
		})
		if err != nil {
			return 0, err
		}
	}
	var dropped uint64
	for _, lf := range leaves {
		if kept[lf.index] {
			continue
		}
		dropped++
		index = append(index, indexKey(lf.id))
	}
	// Level 0: a dropped leaf's entry goes, or keeps only its hash when a
	// kept leaf's path needs it; a hash-only entry that no path needs any
	// more goes too.
	err := l.store.Scan(nodeKey(0, lo), nodeKey(0, lo+1<<k), func(key, value []byte) error {
		i := binary.BigEndian.Uint64(key[2:])
		switch {
		case kept[i]:
		case need[0][i]:
			if len(value) != len(merkle.Hash{}) {
				cut = append(cut, key)
				cutValues = append(cutValues, value[:len(merkle.Hash{})])
			}
		default:
			leafDel = append(leafDel, key)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	if err := del.Delete(append(interior, index...)); err != nil {
		return 0, err
	}
	if len(cut) > 0 {
		if err := l.store.Write(cut, cutValues); err != nil {
			return 0, err
		}
	}
	return dropped, del.Delete(leafDel)
}

// Compacted is the end of the compacted blocks, in leaves: sizes below it
// that are not multiples of 2^CompactLevel are no longer servable.
func (l *Log) Compacted() uint64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.compacted
}

// Servable reports whether RootAt and consistency proofs can answer for
// size: every size at or past the compacted blocks, and the multiples of
// the block below them.
func (l *Log) Servable(size uint64) bool {
	return size >= l.Compacted() || size%(1<<l.blockLevel) == 0
}

// inCompacted reports whether the node at level and index lies in a
// compacted block, below the block's root.
func (l *Log) inCompacted(level uint8, index uint64) bool {
	if level >= l.blockLevel {
		return false
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	return (index+1)<<level <= l.compacted
}

func (l *Log) loadCompacted() error {
	v, ok, err := l.store.Get([]byte{keyCompacted})
	if err != nil || !ok {
		return err
	}
	if len(v) != 8 {
		return fmt.Errorf("evidence: stored compaction end is %d bytes, not 8", len(v))
	}
	l.compacted = binary.BigEndian.Uint64(v)
	return nil
}
