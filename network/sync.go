package network

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/tangled-ledger/tangled/dag"
)

// syncer runs bulk sync: when a peer reports many more transactions than
// this node has, it streams the peer's log in the peer's arrival order
// (parents always precede children there) from a per-peer cursor. The
// cursor advances after a batch is durable here, and also follows gossip:
// while this node keeps up with a peer, its cursor for that peer moves to
// the peer's log head less a margin at every heartbeat (follow), so a node
// that restarts asks only for what it missed, not for everything gossip
// brought since its last bulk sync. Cursors are saved to Config.CursorFile
// every heartbeat they change, so an interrupted sync resumes where it
// stopped.
type syncer struct {
	n    *Network
	kick chan *peer
	// serving bounds the sync ranges this node streams to others at once.
	serving chan struct{}

	mu      sync.Mutex
	cursors map[dag.PublicKey]uint64 // next arrival to ask each peer for
	// caughtUp holds, per peer, the session over which this node has
	// caught up with the peer's log since the session began (by a bulk
	// sync, or because the cursor was already near the peer's head). Only
	// then does the cursor follow gossip: over a new session (after a
	// restart or a partition) gossip has not carried what the peer
	// attached meanwhile, and the cursor must stay where it was for bulk
	// sync to fetch it.
	caughtUp map[dag.PublicKey]*session
	// lastDone is when a bulk sync last reached its peer's head. Peers
	// share one DAG, so after it the other sessions that began before it
	// count as caught up too: a restarted node syncs once, not once per
	// peer.
	lastDone time.Time
	dirty    bool
	active   bool
	synced   uint64 // transactions received by bulk sync
}

const (
	// syncRound is the most transactions one range request asks for; the
	// syncer asks again while the peer is still ahead.
	syncRound = 50_000
	// maxServing is how many ranges a node streams at once.
	maxServing = 2
)

func newSyncer(n *Network) (*syncer, error) {
	s := &syncer{
		n: n, kick: make(chan *peer, 1), serving: make(chan struct{}, maxServing),
		cursors: map[dag.PublicKey]uint64{}, caughtUp: map[dag.PublicKey]*session{},
	}
	if err := s.loadCursors(); err != nil {
		return nil, err
	}
	return s, nil
}

// consider starts a sync with p if p is far ahead, or if p's log has
// grown past this node's cursor for it since this node last kept up with
// p (a partition or a restart in between: the totals can match while each
// side lacks what the other attached), and none is running; otherwise the
// cursor for p follows p's head.
func (s *syncer) consider(p *peer, hb Heartbeat) {
	s.n.mu.Lock()
	sess := p.session
	s.n.mu.Unlock()
	if !s.n.farBehind(hb) && !s.missedSince(p, sess, hb) {
		s.follow(p, sess, hb)
		return
	}
	s.mu.Lock()
	active := s.active
	s.mu.Unlock()
	if !active {
		select {
		case s.kick <- p:
		default:
		}
	}
}

// missedSince reports whether p's log head in hb lies further beyond the
// cursor than following leaves it, over a session this node has not yet
// caught up with p on. A peer without a cursor (never synced or followed)
// is judged by the totals alone, so that a node does not stream the whole
// log of every new peer.
func (s *syncer) missedSince(p *peer, sess *session, hb Heartbeat) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sess == nil || s.caughtUp[p.key] == sess {
		return false
	}
	if s.lastDone.After(sess.since) {
		s.caughtUp[p.key] = sess
		return false
	}
	cur, ok := s.cursors[p.key]
	if !ok || cur == 0 {
		return false
	}
	slack := (followMargin + 1) * s.n.cfg.SyncThreshold
	if hb.Transactions+1 > cur+slack {
		return true
	}
	s.caughtUp[p.key] = sess
	return false
}

// followMargin is how far behind a peer's log head the followed cursor
// stays, in SyncThresholds: a node that keeps up holds all but at most
// SyncThreshold of the peer's transactions (farBehind), and the newest of
// what it holds may still be in flight to its store; twice the threshold
// covers both. What the margin re-sends after a restart is the constant
// in the catch-up cost.
const followMargin = 2

// follow moves p's cursor to p's log head less the margin, while this
// node keeps up with p by gossip and no bulk sync runs (which moves the
// cursor itself). Only forward: a peer whose log shrank (wiped) is
// detected by syncWith and restarted from 1.
func (s *syncer) follow(p *peer, sess *session, hb Heartbeat) {
	margin := followMargin * s.n.cfg.SyncThreshold
	if hb.Transactions <= margin {
		return
	}
	next := hb.Transactions + 1 - margin
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.cursors[p.key]; !ok {
		// No cursor yet: the totals (farBehind) said this node keeps up.
		s.caughtUp[p.key] = sess
	} else if s.caughtUp[p.key] != sess {
		return // not caught up over this session yet (missedSince decides)
	}
	if !s.active && next > s.cursors[p.key] {
		s.cursors[p.key] = next
		s.dirty = true
	}
}

// farBehind reports whether the peer that sent hb is more than
// SyncThreshold transactions ahead, so that bulk sync, not gossip and
// requests, should close the gap.
func (n *Network) farBehind(hb Heartbeat) bool {
	return hb.Transactions > n.ledger.Stats().Transactions+n.cfg.SyncThreshold
}

// Syncing reports whether a bulk sync is running and how many
// transactions bulk sync has delivered since start.
func (n *Network) Syncing() (active bool, received uint64) {
	n.sync.mu.Lock()
	defer n.sync.mu.Unlock()
	return n.sync.active, n.sync.synced
}

// SyncCursor is the arrival number this node would ask peer for next in a
// bulk sync: how far into peer's log it holds everything (0: none yet).
func (n *Network) SyncCursor(peer dag.PublicKey) uint64 {
	n.sync.mu.Lock()
	defer n.sync.mu.Unlock()
	return n.sync.cursors[peer]
}

func (s *syncer) run(ctx context.Context) {
	// Saving at the heartbeat's pace bounds what a crash re-sends to one
	// heartbeat's worth of followed head, plus the margin; an unchanged
	// cursor is not written.
	save := time.NewTicker(s.n.cfg.HeartbeatInterval)
	defer save.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-save.C:
			if err := s.saveCursors(); err != nil {
				s.n.log.Warn("saving sync cursors", "err", err)
			}
		case p := <-s.kick:
			s.mu.Lock()
			s.active = true
			s.mu.Unlock()
			s.syncWith(ctx, p)
			s.mu.Lock()
			s.active = false
			s.mu.Unlock()
		}
	}
}

// syncWith asks p for ranges until this node has everything p had when the
// sync started, or the session fails.
func (s *syncer) syncWith(ctx context.Context, p *peer) {
	start := time.Now()
	var got uint64
	for ctx.Err() == nil {
		s.n.mu.Lock()
		sess := p.session
		s.n.mu.Unlock()
		if sess == nil {
			return
		}
		s.mu.Lock()
		from := max(s.cursors[p.key], 1)
		s.mu.Unlock()
		end, n, err := sess.syncRange(from, syncRound)
		got += n
		if err != nil {
			if sess.ctx.Err() == nil {
				s.n.log.Warn("bulk sync", "peer", p.key.String()[:16], "err", err)
			}
			return
		}
		if end.Head+1 < from {
			// The peer's log is shorter than the cursor: its data were
			// wiped. Start over.
			s.setCursor(p.key, 1)
			continue
		}
		if end.Next > end.Head {
			s.mu.Lock()
			s.caughtUp[p.key] = sess
			s.lastDone = s.n.cfg.Now()
			s.mu.Unlock()
			break
		}
		if n == 0 {
			return // the peer is busy; its next heartbeat starts over
		}
	}
	s.n.log.Info("bulk sync done", "peer", p.key.String()[:16], "received", got,
		"took", time.Since(start).Round(time.Millisecond))
}

func (s *syncer) setCursor(key dag.PublicKey, next uint64) {
	s.mu.Lock()
	s.cursors[key] = next
	s.dirty = true
	s.mu.Unlock()
}

// syncRange requests up to limit transactions from arrival from and
// ingests them in batches, advancing the cursor after each.
func (sess *session) syncRange(from uint64, limit uint32) (end syncEnd, received uint64, err error) {
	st, err := sess.conn.OpenStream(sess.ctx)
	if err != nil {
		return end, 0, err
	}
	defer st.Abort()
	req := appendPreamble(nil, purposeSync)
	req = appendFrame(req, frameSyncRequest, syncRequest{From: from, Limit: limit}.append(nil))
	if err := sess.write(st, req); err != nil {
		return end, 0, err
	}
	_ = st.Close() // the request is all this side sends
	fr := newFrameReader(countingReader{st, &sess.peer.traffic.bytesIn}, sess.n.maxPayload)
	sy := sess.n.sync
	batch := make([]*dag.Transaction, 0, ingestBatch)
	var last uint64
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := sess.n.ingest(sess.ctx, sess.peer, batch); err != nil {
			return err
		}
		received += uint64(len(batch))
		sy.mu.Lock()
		sy.synced += uint64(len(batch))
		sy.mu.Unlock()
		sy.setCursor(sess.peer.key, last+1)
		batch = batch[:0]
		return nil
	}
	for {
		t, payload, err := fr.next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				// Not a violation: an honest peer ends the stream this
				// way when its session stops mid-range (serve returns
				// nil once the session's context is done, and
				// acceptStreams then closes the stream gracefully), and
				// a lost last write does the same on a lossy MemNetwork.
				// Banning would lock out a peer that merely restarted;
				// the cursor keeps what arrived, and the next heartbeat
				// resumes the sync.
				return end, received, errors.New("network: sync stream ended without an end frame")
			}
			if errors.Is(err, ErrProtocol) {
				return end, received, sess.violation(err)
			}
			return end, received, err
		}
		sess.allowFrame()
		switch t {
		case frameSyncTx:
			arrival, raw, err := decodeSyncTx(payload)
			if err != nil {
				return end, received, sess.violation(err)
			}
			if arrival <= last || arrival < from {
				return end, received, sess.violation(fmt.Errorf("%w: sync arrival %d out of order", ErrProtocol, arrival))
			}
			last = arrival
			sess.peer.traffic.txIn.Add(1)
			tx, err := dag.Decode(raw, sess.n.maxPayload)
			if err != nil {
				sess.peer.traffic.invalid.Add(1)
				sess.n.penalize(sess.peer, PenaltyInvalid, fmt.Errorf("undecodable transaction: %w", err))
				continue
			}
			batch = append(batch, tx)
			if len(batch) >= ingestBatch || fr.r.Buffered() == 0 {
				if err := flush(); err != nil {
					return end, received, err
				}
			}
		case frameSyncEnd:
			if end, err = decodeSyncEnd(payload); err != nil {
				return end, received, sess.violation(err)
			}
			if err := flush(); err != nil {
				return end, received, err
			}
			if end.Next > last+1 || last == 0 {
				sy.setCursor(sess.peer.key, max(end.Next, from))
			}
			return end, received, nil
		default:
			return end, received, sess.violation(fmt.Errorf("%w: frame type %d on a sync stream", ErrProtocol, t))
		}
	}
}

// errRangeDone stops a Range callback once the limit is reached.
var errRangeDone = errors.New("range done")

// serve streams one range of this node's log to a peer.
func (s *syncer) serve(sess *session, st Stream, fr *frameReader) error {
	t, payload, err := fr.next()
	if err != nil {
		if errors.Is(err, ErrProtocol) {
			return sess.violation(err)
		}
		return sess.quiet(err)
	}
	if t != frameSyncRequest {
		return sess.violation(fmt.Errorf("%w: frame type %d opens a sync stream", ErrProtocol, t))
	}
	req, err := decodeSyncRequest(payload)
	if err != nil {
		return sess.violation(err)
	}
	next := req.From
	select {
	case s.serving <- struct{}{}:
		defer func() { <-s.serving }()
	default:
		// Busy: an end frame that sends nothing tells the peer to retry.
		head := s.n.ledger.Stats().Transactions
		return sess.write(st, appendFrame(nil, frameSyncEnd, syncEnd{Next: next, Head: head}.append(nil)))
	}
	buf := make([]byte, 0, writeChunk+8<<10)
	var arrival [8]byte
	sent := uint64(0)
	err = s.n.host.Range(req.From, func(a uint64, raw []byte) error {
		if sess.ctx.Err() != nil {
			return sess.ctx.Err()
		}
		next = a + 1
		if tx, err := dag.Decode(raw, s.n.maxPayload); err == nil && sess.peer.sentUs.has(tx.ID()) {
			return nil // the requester gave it to this node
		}
		putUint64(arrival[:], a)
		buf = appendFrame(buf, frameSyncTx, arrival[:], raw)
		sent++
		if len(buf) >= writeChunk {
			if err := sess.write(st, buf); err != nil {
				return err
			}
			buf = buf[:0]
		}
		if req.Limit > 0 && sent >= uint64(req.Limit) {
			return errRangeDone
		}
		return nil
	})
	sess.peer.traffic.txOut.Add(sent)
	if err != nil && !errors.Is(err, errRangeDone) {
		return sess.quiet(err)
	}
	head := s.n.ledger.Stats().Transactions
	buf = appendFrame(buf, frameSyncEnd, syncEnd{Next: next, Head: head}.append(nil))
	return sess.write(st, buf)
}

func putUint64(b []byte, v uint64) {
	for i := 7; i >= 0; i-- {
		b[i] = byte(v)
		v >>= 8
	}
}

type cursorFile struct {
	Cursors map[string]uint64 `json:"cursors"`
}

func (s *syncer) loadCursors() error {
	path := s.n.cfg.CursorFile
	if path == "" {
		return nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("network: sync cursors: %w", err)
	}
	var f cursorFile
	if err := json.Unmarshal(data, &f); err != nil {
		// A damaged cursor file costs a re-sync from the start, not a
		// refusal to start.
		s.n.log.Warn("ignoring damaged sync cursor file", "path", path, "err", err)
		return nil
	}
	for k, v := range f.Cursors {
		var key dag.PublicKey
		if err := key.UnmarshalText([]byte(k)); err == nil {
			s.cursors[key] = v
		}
	}
	return nil
}

// saveCursors writes the cursors atomically (temporary file, fsync,
// rename) when they changed.
func (s *syncer) saveCursors() error {
	path := s.n.cfg.CursorFile
	s.mu.Lock()
	if path == "" || !s.dirty {
		s.mu.Unlock()
		return nil
	}
	f := cursorFile{Cursors: map[string]uint64{}}
	for k, v := range s.cursors {
		f.Cursors[k.String()] = v
	}
	s.dirty = false
	s.mu.Unlock()
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".cursors-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
