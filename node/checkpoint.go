package node

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/tangled-ledger/tangled/dag"
)

// A clean shutdown saves a checkpoint (dag.Ledger.Checkpoint, which holds
// the device registry's state too), so that the next start does not
// replay the log: restart time follows the memory budget and the number
// of devices, not history. What the node derives from the whole confirmed
// history itself, the firmware horizon (firmware.go), goes beside it, so
// that a restored node need not read every confirmed transaction back
// either. A crash leaves no checkpoint: the next start replays and
// rescans, as before.

// horizonKey is where the firmware horizon waits for the next start, in
// the store's auxiliary keyspace (the audit log's keys there all begin
// with a lower-case letter). An empty value means none.
var horizonKey = []byte("\xffnode/confirmed-horizon")

// saveCheckpoint runs at the end of Run, once nothing attaches any more.
func (n *Node) saveCheckpoint() {
	start := time.Now()
	if err := n.store.Aux().Write([][]byte{horizonKey}, [][]byte{n.fwHorizon.encode()}); err != nil {
		n.log.Warn("checkpoint not saved: the next start replays the log", "err", err)
		return
	}
	if err := n.ledger.Checkpoint(); err != nil {
		if errors.Is(err, dag.ErrCheckpoint) {
			n.log.Info("no checkpoint: the next start replays the log", "reason", err)
		} else {
			n.log.Warn("checkpoint not saved: the next start replays the log", "err", err)
		}
		return
	}
	n.log.Info("checkpoint saved", "took", time.Since(start).Round(time.Millisecond))
}

// loadHorizon takes the firmware horizon a clean shutdown saved; false if
// there is none (then it is rebuilt from the confirmed order). It is
// consumed, so that it is never read against another ledger state.
func (n *Node) loadHorizon() bool {
	v, ok, err := n.store.Aux().Get(horizonKey)
	if err != nil || !ok || len(v) == 0 {
		return false
	}
	if err := n.store.Aux().Write([][]byte{horizonKey}, [][]byte{{}}); err != nil {
		return false
	}
	return n.fwHorizon.decode(v) == nil
}

func (h *confirmedHorizon) encode() []byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	b := binary.BigEndian.AppendUint64(nil, uint64(h.newest))
	for _, x := range h.v {
		b = binary.BigEndian.AppendUint64(b, x)
	}
	return b
}

// decode replaces h with what encode wrote.
func (h *confirmedHorizon) decode(b []byte) error {
	if len(b) < 8 || len(b)%8 != 0 {
		return fmt.Errorf("node: saved horizon of %d bytes", len(b))
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.newest = int64(binary.BigEndian.Uint64(b))
	h.v = h.v[:0]
	for b = b[8:]; len(b) > 0; b = b[8:] {
		h.v = append(h.v, binary.BigEndian.Uint64(b))
	}
	return nil
}
