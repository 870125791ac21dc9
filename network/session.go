package network

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/tangled-ledger/tangled/dag"
)

// session is one live connection to a peer and the goroutines serving it.
type session struct {
	n       *Network
	peer    *peer
	conn    Conn
	inbound bool
	since   time.Time

	ctx    context.Context
	cancel context.CancelFunc

	out    chan *dag.Transaction // gossip waiting to be sent
	reqOut chan []dag.ID         // requests waiting to be sent

	frames   *rate.Limiter // frames the peer may send
	requests *rate.Limiter // IDs the peer may ask for

	mu        sync.Mutex
	err       error     // the first error that ended the session
	lastFlood time.Time // last flood penalty, charged at most once a second
}

// writeChunk is how much a writer coalesces into one stream write.
const writeChunk = 64 << 10

// ingestBatch is the most transactions handed to the pipeline at once.
const ingestBatch = 512

func newSession(n *Network, p *peer, c Conn, inbound bool) *session {
	ctx, cancel := context.WithCancel(n.ctx)
	return &session{
		n: n, peer: p, conn: c, inbound: inbound, since: n.cfg.Now(),
		ctx: ctx, cancel: cancel,
		out:      make(chan *dag.Transaction, n.cfg.GossipQueue),
		reqOut:   make(chan []dag.ID, 64),
		frames:   rate.NewLimiter(rate.Limit(n.cfg.MaxFramesPerSecond), int(n.cfg.MaxFramesPerSecond)),
		requests: rate.NewLimiter(rate.Limit(n.cfg.MaxRequestIDsPerSecond), int(n.cfg.MaxRequestIDsPerSecond)),
	}
}

// run serves the connection until it fails or the session is closed.
func (s *session) run() {
	var wg sync.WaitGroup
	goFn := func(f func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(); err != nil {
				s.fail(err)
			}
		}()
	}
	goFn(s.acceptStreams)
	goFn(s.gossipWriter)
	goFn(s.requestClient)
	select {
	case <-s.ctx.Done():
	case <-s.conn.Done():
		s.fail(errors.New("connection closed"))
	}
	s.mu.Lock()
	err := s.err
	s.mu.Unlock()
	code, reason := CodeNormal, "bye"
	if errors.Is(err, ErrProtocol) {
		code, reason = CodeProtocol, err.Error()
	}
	_ = s.conn.CloseWithError(code, reason)
	wg.Wait()
	s.n.ended(s, err)
}

// fail records the first error and ends the session.
func (s *session) fail(err error) {
	s.mu.Lock()
	if s.err == nil && s.ctx.Err() == nil {
		s.err = err
	}
	s.mu.Unlock()
	s.cancel()
}

// close ends the session from outside (ban, duplicate, shutdown).
func (s *session) close(code uint64, reason string) {
	s.fail(errors.New(reason))
	_ = s.conn.CloseWithError(code, reason)
}

// violation charges the peer for a protocol violation and ends the session.
func (s *session) violation(err error) error {
	s.n.penalize(s.peer, PenaltyProtocol, err)
	return err
}

// allowFrame applies the per-peer frame rate.
func (s *session) allowFrame() {
	if s.frames.Allow() {
		return
	}
	s.mu.Lock()
	now := time.Now()
	charge := now.Sub(s.lastFlood) >= time.Second
	if charge {
		s.lastFlood = now
	}
	s.mu.Unlock()
	if charge {
		s.n.penalize(s.peer, PenaltyFlood, errors.New("frame flood"))
	}
}

// gossip queues tx for this peer unless it is known to have it. It runs
// under Network.mu and never blocks.
func (s *session) gossip(tx *dag.Transaction) {
	if !s.peer.known.add(tx.ID()) {
		return
	}
	select {
	case s.out <- tx:
	default:
		s.peer.traffic.dropped.Add(1)
	}
}

// write sends buf on st and counts it.
func (s *session) write(st Stream, buf []byte) error {
	if _, err := st.Write(buf); err != nil {
		return err
	}
	s.peer.traffic.bytesOut.Add(uint64(len(buf)))
	return nil
}

// gossipWriter opens this side's gossip stream and sends queued
// transactions, coalesced into large writes, and a heartbeat every
// interval.
func (s *session) gossipWriter() error {
	st, err := s.conn.OpenStream(s.ctx)
	if err != nil {
		return s.quiet(err)
	}
	defer st.Abort()
	buf := appendPreamble(make([]byte, 0, writeChunk+8<<10), purposeGossip)
	buf = appendFrame(buf, frameHeartbeat, s.n.heartbeat().append(nil))
	if err := s.write(st, buf); err != nil {
		return s.quiet(err)
	}
	tick := time.NewTicker(s.n.cfg.HeartbeatInterval)
	defer tick.Stop()
	for {
		buf = buf[:0]
		select {
		case <-s.ctx.Done():
			return nil
		case <-tick.C:
			buf = appendFrame(buf, frameHeartbeat, s.n.heartbeat().append(nil))
		case tx := <-s.out:
			buf = appendFrame(buf, frameTx, tx.Bytes())
			sent := uint64(1)
		drain:
			for len(buf) < writeChunk {
				select {
				case tx := <-s.out:
					buf = appendFrame(buf, frameTx, tx.Bytes())
					sent++
				default:
					break drain
				}
			}
			s.peer.traffic.txOut.Add(sent)
		}
		if err := s.write(st, buf); err != nil {
			return s.quiet(err)
		}
	}
}

// quiet drops errors caused by the session ending on purpose.
func (s *session) quiet(err error) error {
	if s.ctx.Err() != nil {
		return nil
	}
	return err
}

// acceptStreams dispatches the streams the peer opens by their purpose.
func (s *session) acceptStreams() error {
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		st, err := s.conn.AcceptStream(s.ctx)
		if err != nil {
			return s.quiet(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.serve(st); err != nil {
				st.Abort()
				s.fail(err)
				return
			}
			// A clean end: close our side gracefully so data still in
			// flight (a sync range's tail) is delivered, not reset.
			_ = st.Close()
		}()
	}
}

func (s *session) serve(st Stream) error {
	p, err := readPreamble(st)
	if err != nil {
		if errors.Is(err, ErrProtocol) {
			return s.violation(err)
		}
		return s.quiet(err)
	}
	s.peer.traffic.bytesIn.Add(preambleSize)
	fr := newFrameReader(countingReader{st, &s.peer.traffic.bytesIn}, s.n.maxPayload)
	switch p {
	case purposeGossip:
		return s.readGossip(fr)
	case purposeRequest:
		return s.serveRequests(st, fr)
	case purposeSync:
		return s.n.sync.serve(s, st, fr)
	case purposeBlob:
		return s.serveBlob(st)
	}
	return nil
}

// countingReader counts bytes read into a traffic counter.
type countingReader struct {
	r io.Reader
	n interface{ Add(uint64) uint64 }
}

func (c countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(uint64(n))
	return n, err
}

// readTxs reads transaction frames into batches and ingests each batch:
// a batch ends when ingestBatch is reached or nothing more is buffered, so
// a quiet link delivers at once and a busy one amortises the pipeline's
// group commit. Heartbeats are recorded when heartbeats is set; any other
// frame type is a violation.
func (s *session) readTxs(fr *frameReader, heartbeats bool) error {
	batch := make([]*dag.Transaction, 0, ingestBatch)
	for {
		t, payload, err := fr.next()
		if err != nil {
			if errors.Is(err, ErrProtocol) {
				return s.violation(err)
			}
			if errors.Is(err, io.EOF) {
				return nil
			}
			return s.quiet(err)
		}
		s.allowFrame()
		switch {
		case t == frameTx:
			s.peer.traffic.txIn.Add(1)
			tx, err := dag.Decode(payload, s.n.maxPayload)
			if err != nil {
				s.peer.traffic.invalid.Add(1)
				s.n.penalize(s.peer, PenaltyInvalid, fmt.Errorf("undecodable transaction: %w", err))
				continue
			}
			batch = append(batch, tx)
		case t == frameHeartbeat && heartbeats:
			hb, err := decodeHeartbeat(payload)
			if err != nil {
				return s.violation(err)
			}
			s.n.heard(s.peer, hb)
		default:
			return s.violation(fmt.Errorf("%w: unexpected frame type %d", ErrProtocol, t))
		}
		if len(batch) > 0 && (len(batch) >= ingestBatch || fr.r.Buffered() == 0) {
			if err := s.n.ingest(s.ctx, s.peer, batch); err != nil {
				return s.quiet(err)
			}
			batch = batch[:0]
		}
	}
}

func (s *session) readGossip(fr *frameReader) error { return s.readTxs(fr, true) }

// requestClient opens this side's request stream: requests go out, the
// transactions come back on the same stream.
func (s *session) requestClient() error {
	st, err := s.conn.OpenStream(s.ctx)
	if err != nil {
		return s.quiet(err)
	}
	defer st.Abort()
	if err := s.write(st, appendPreamble(nil, purposeRequest)); err != nil {
		return s.quiet(err)
	}
	readErr := make(chan error, 1)
	go func() {
		fr := newFrameReader(countingReader{st, &s.peer.traffic.bytesIn}, s.n.maxPayload)
		readErr <- s.readTxs(fr, false)
	}()
	buf := make([]byte, 0, MaxRequestIDs*dag.IDSize+frameHeaderSize)
	for {
		select {
		case <-s.ctx.Done():
			st.Abort()
			<-readErr
			return nil
		case err := <-readErr:
			return err
		case ids := <-s.reqOut:
			buf = buf[:0]
			for len(ids) > 0 {
				chunk := ids[:min(len(ids), MaxRequestIDs)]
				ids = ids[len(chunk):]
				parts := make([][]byte, len(chunk))
				for i := range chunk {
					parts[i] = chunk[i][:]
				}
				buf = appendFrame(buf, frameRequest, parts...)
				s.peer.traffic.requestsOut.Add(uint64(len(chunk)))
			}
			if err := s.write(st, buf); err != nil {
				st.Abort()
				<-readErr
				return s.quiet(err)
			}
		}
	}
}

// request queues a request for ids without blocking; false when the
// queue is full.
func (s *session) request(ids []dag.ID) bool {
	select {
	case s.reqOut <- ids:
		return true
	default:
		return false
	}
}

// serveRequests answers the peer's request stream with the transactions
// this node has (attached or parked); unknown IDs are skipped, the
// requester retries elsewhere.
func (s *session) serveRequests(st Stream, fr *frameReader) error {
	var ids []dag.ID
	buf := make([]byte, 0, writeChunk+8<<10)
	for {
		t, payload, err := fr.next()
		if err != nil {
			if errors.Is(err, ErrProtocol) {
				return s.violation(err)
			}
			if errors.Is(err, io.EOF) {
				return nil
			}
			return s.quiet(err)
		}
		s.allowFrame()
		if t != frameRequest {
			return s.violation(fmt.Errorf("%w: frame type %d on a request stream", ErrProtocol, t))
		}
		if ids, err = decodeIDs(payload, ids[:0]); err != nil {
			return s.violation(err)
		}
		s.peer.traffic.requestsIn.Add(uint64(len(ids)))
		if !s.requests.AllowN(time.Now(), len(ids)) {
			s.n.penalize(s.peer, PenaltyFlood, errors.New("request flood"))
			continue
		}
		buf = buf[:0]
		sent := uint64(0)
		for _, id := range ids {
			tx, err := s.n.ledger.Transaction(id)
			if err != nil {
				continue
			}
			buf = appendFrame(buf, frameTx, tx.Bytes())
			sent++
			if len(buf) >= writeChunk {
				if err := s.write(st, buf); err != nil {
					return s.quiet(err)
				}
				buf = buf[:0]
			}
		}
		if len(buf) > 0 {
			if err := s.write(st, buf); err != nil {
				return s.quiet(err)
			}
		}
		s.peer.traffic.txOut.Add(sent)
	}
}

// heartbeat is this node's own report.
func (n *Network) heartbeat() Heartbeat {
	st := n.ledger.Stats()
	hb := Heartbeat{
		Transactions: st.Transactions,
		Confirmed:    uint64(st.Confirmed),
		Tips:         uint32(min(st.Tips, 1<<32-1)),
		Parked:       uint32(min(st.Parked, 1<<32-1)),
	}
	// Half the newest tips, which a lost gossip frame most likely held,
	// and half a random sample, so that over a few heartbeats every tip
	// of a wide tangle is advertised.
	hb.TipIDs = n.ledger.NewestTips(MaxHeartbeatTips/2, nil)
	hb.TipIDs = n.ledger.SampleTips(MaxHeartbeatTips-len(hb.TipIDs), rand.IntN, hb.TipIDs)
	if st.Confirmed > 0 {
		hb.LatestConfirmed, _ = n.ledger.ConfirmedFrontier()
	}
	return hb
}

// heard records a peer's heartbeat, asks the peer for the tips it
// advertises that this node does not know (unless a bulk sync is due or
// running), and lets the syncer judge whether this node is far behind.
func (n *Network) heard(p *peer, hb Heartbeat) {
	n.mu.Lock()
	p.hb, p.hbAt = hb, n.cfg.Now()
	n.mu.Unlock()
	// Far behind, the tips would only park and send the requester after
	// their whole past one ID at a time; bulk sync brings them in order.
	if active, _ := n.Syncing(); !active && !n.farBehind(hb) {
		var unknown []dag.ID
		for _, id := range hb.TipIDs {
			if !n.ledger.Known(id) {
				unknown = append(unknown, id)
			}
		}
		n.want.add(unknown, p)
	}
	n.sync.consider(p, hb)
}
