package network

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/tangled-ledger/tangled/dag"
)

// ProtocolVersion is the version of the wire protocol. A stream whose
// preamble names another version is refused.
const ProtocolVersion = 2

// A stream begins with a preamble: the magic bytes, the protocol version
// and the stream's purpose.
var magic = [3]byte{'T', 'G', 'L'}

const preambleSize = 5

// purpose says what a stream carries.
type purpose uint8

const (
	purposeGossip  purpose = 1 // transactions and heartbeats, one way
	purposeRequest purpose = 2 // IDs one way, transactions back
	purposeSync    purpose = 3 // one range request, a stream of the log back
	purposeBlob    purpose = 4 // one image request, the image back (blob.go)
)

// frame types.
const (
	frameTx          byte = 1 // raw transaction
	frameHeartbeat   byte = 2 // heartbeat
	frameRequest     byte = 3 // 1..MaxRequestIDs IDs
	frameSyncRequest byte = 4 // from arrival u64, limit u32
	frameSyncTx      byte = 5 // arrival u64, raw transaction
	frameSyncEnd     byte = 6 // next arrival u64, head u64
)

// Frame limits.
const (
	frameHeaderSize = 5 // type u8, length u32
	// MaxRequestIDs bounds one request frame.
	MaxRequestIDs = 256
	// MaxHeartbeatTips bounds the tip IDs one heartbeat advertises.
	MaxHeartbeatTips = 16
	// heartbeatBaseSize is a heartbeat without tip IDs: the counts and the
	// latest confirmed ID.
	heartbeatBaseSize = 8 + 8 + 4 + 4 + dag.IDSize
	maxHeartbeatSize  = heartbeatBaseSize + MaxHeartbeatTips*dag.IDSize
	syncRequestSize   = 8 + 4
	syncEndSize       = 8 + 8
)

// Frame errors. Every decoding failure wraps ErrProtocol.
var (
	ErrProtocol      = errors.New("network: protocol violation")
	ErrFrameTooLarge = fmt.Errorf("%w: frame too large", ErrProtocol)
)

// maxFrame returns the largest payload a frame of type t may carry on a
// network whose transactions hold at most maxPayload bytes of payload.
func maxFrame(t byte, maxPayload int) int {
	maxTx := dag.MinSize + maxPayload
	switch t {
	case frameTx:
		return maxTx
	case frameHeartbeat:
		return maxHeartbeatSize
	case frameRequest:
		return MaxRequestIDs * dag.IDSize
	case frameSyncRequest:
		return syncRequestSize
	case frameSyncTx:
		return 8 + maxTx
	case frameSyncEnd:
		return syncEndSize
	}
	return -1
}

// appendPreamble appends a stream preamble.
func appendPreamble(dst []byte, p purpose) []byte {
	return append(append(dst, magic[:]...), ProtocolVersion, byte(p))
}

// readPreamble reads and checks a stream preamble.
func readPreamble(r io.Reader) (purpose, error) {
	var b [preambleSize]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		// A stream that ends inside its preamble is malformed, just as
		// one that ends inside a frame header is (frameReader.next).
		if errors.Is(err, io.ErrUnexpectedEOF) {
			err = fmt.Errorf("%w: truncated stream preamble", ErrProtocol)
		}
		return 0, err
	}
	return parsePreamble(b[:])
}

func parsePreamble(b []byte) (purpose, error) {
	if len(b) != preambleSize || [3]byte(b[:3]) != magic {
		return 0, fmt.Errorf("%w: bad stream preamble", ErrProtocol)
	}
	if b[3] != ProtocolVersion {
		return 0, fmt.Errorf("%w: protocol version %d, want %d", ErrProtocol, b[3], ProtocolVersion)
	}
	switch p := purpose(b[4]); p {
	case purposeGossip, purposeRequest, purposeSync, purposeBlob:
		return p, nil
	}
	return 0, fmt.Errorf("%w: unknown stream purpose %d", ErrProtocol, b[4])
}

// appendFrame appends one frame whose payload is the concatenation of parts.
func appendFrame(dst []byte, t byte, parts ...[]byte) []byte {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	dst = append(dst, t)
	dst = binary.BigEndian.AppendUint32(dst, uint32(n))
	for _, p := range parts {
		dst = append(dst, p...)
	}
	return dst
}

// frameReader decodes frames from a stream, enforcing per-type limits
// before it allocates, so a peer cannot make a node buffer more than one
// maximal transaction.
type frameReader struct {
	r          *bufio.Reader
	maxPayload int
	buf        []byte
}

func newFrameReader(r io.Reader, maxPayload int) *frameReader {
	return &frameReader{r: bufio.NewReaderSize(r, 64<<10), maxPayload: maxPayload}
}

// next returns the next frame. The payload is valid until the next call.
// io.EOF means the peer closed the stream cleanly between frames.
func (f *frameReader) next() (t byte, payload []byte, err error) {
	var h [frameHeaderSize]byte
	if _, err := io.ReadFull(f.r, h[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			err = fmt.Errorf("%w: truncated frame header", ErrProtocol)
		}
		return 0, nil, err
	}
	t = h[0]
	n := binary.BigEndian.Uint32(h[1:])
	limit := maxFrame(t, f.maxPayload)
	if limit < 0 {
		return 0, nil, fmt.Errorf("%w: unknown frame type %d", ErrProtocol, t)
	}
	if uint64(n) > uint64(limit) {
		return 0, nil, fmt.Errorf("%w: type %d, %d bytes, limit %d", ErrFrameTooLarge, t, n, limit)
	}
	if cap(f.buf) < int(n) {
		f.buf = make([]byte, n, max(int(n), 512))
	}
	f.buf = f.buf[:n]
	if _, err := io.ReadFull(f.r, f.buf); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			err = fmt.Errorf("%w: truncated frame", ErrProtocol)
		}
		return 0, nil, err
	}
	return t, f.buf, nil
}

// Heartbeat is what a node tells its peers about itself every
// HeartbeatInterval: its counts, the newest transaction it confirmed, and
// some of its newest tips. A peer that does not know an advertised tip asks
// for it, which recovers a gossiped transaction lost on the way that no
// child has named yet (a missing parent is asked for anyway).
type Heartbeat struct {
	Transactions uint64 // attached transactions
	Confirmed    uint64
	Tips         uint32
	Parked       uint32
	// LatestConfirmed is the newest transaction in the confirmed order,
	// zero while nothing is confirmed.
	LatestConfirmed dag.ID
	// TipIDs are up to MaxHeartbeatTips of the node's newest tips.
	TipIDs []dag.ID
}

// Layout: transactions u64 | confirmed u64 | tips u32 | parked u32 |
// latest confirmed ID | 0..MaxHeartbeatTips tip IDs.
func (h Heartbeat) append(dst []byte) []byte {
	dst = binary.BigEndian.AppendUint64(dst, h.Transactions)
	dst = binary.BigEndian.AppendUint64(dst, h.Confirmed)
	dst = binary.BigEndian.AppendUint32(dst, h.Tips)
	dst = binary.BigEndian.AppendUint32(dst, h.Parked)
	dst = append(dst, h.LatestConfirmed[:]...)
	for _, id := range h.TipIDs[:min(len(h.TipIDs), MaxHeartbeatTips)] {
		dst = append(dst, id[:]...)
	}
	return dst
}

func decodeHeartbeat(b []byte) (Heartbeat, error) {
	if len(b) < heartbeatBaseSize || len(b) > maxHeartbeatSize || (len(b)-heartbeatBaseSize)%dag.IDSize != 0 {
		return Heartbeat{}, fmt.Errorf("%w: heartbeat of %d bytes", ErrProtocol, len(b))
	}
	h := Heartbeat{
		Transactions:    binary.BigEndian.Uint64(b),
		Confirmed:       binary.BigEndian.Uint64(b[8:]),
		Tips:            binary.BigEndian.Uint32(b[16:]),
		Parked:          binary.BigEndian.Uint32(b[20:]),
		LatestConfirmed: dag.ID(b[24:heartbeatBaseSize]),
	}
	for rest := b[heartbeatBaseSize:]; len(rest) > 0; rest = rest[dag.IDSize:] {
		h.TipIDs = append(h.TipIDs, dag.ID(rest[:dag.IDSize]))
	}
	return h, nil
}

// decodeIDs splits a request frame into IDs.
func decodeIDs(b []byte, dst []dag.ID) ([]dag.ID, error) {
	if len(b) == 0 || len(b)%dag.IDSize != 0 {
		return dst, fmt.Errorf("%w: request of %d bytes", ErrProtocol, len(b))
	}
	for ; len(b) > 0; b = b[dag.IDSize:] {
		dst = append(dst, dag.ID(b[:dag.IDSize]))
	}
	return dst, nil
}

type syncRequest struct {
	From  uint64 // first arrival number wanted
	Limit uint32 // most transactions to send; 0 means no limit
}

func (s syncRequest) append(dst []byte) []byte {
	dst = binary.BigEndian.AppendUint64(dst, s.From)
	return binary.BigEndian.AppendUint32(dst, s.Limit)
}

func decodeSyncRequest(b []byte) (syncRequest, error) {
	if len(b) != syncRequestSize {
		return syncRequest{}, fmt.Errorf("%w: sync request of %d bytes", ErrProtocol, len(b))
	}
	s := syncRequest{From: binary.BigEndian.Uint64(b), Limit: binary.BigEndian.Uint32(b[8:])}
	if s.From == 0 {
		return syncRequest{}, fmt.Errorf("%w: sync from arrival 0", ErrProtocol)
	}
	return s, nil
}

func decodeSyncTx(b []byte) (arrival uint64, raw []byte, err error) {
	if len(b) < 8+dag.MinSize {
		return 0, nil, fmt.Errorf("%w: sync transaction of %d bytes", ErrProtocol, len(b))
	}
	arrival = binary.BigEndian.Uint64(b)
	if arrival == 0 {
		return 0, nil, fmt.Errorf("%w: sync transaction at arrival 0", ErrProtocol)
	}
	return arrival, b[8:], nil
}

type syncEnd struct {
	Next uint64 // the first arrival not sent
	Head uint64 // the sender's newest arrival
}

func (s syncEnd) append(dst []byte) []byte {
	dst = binary.BigEndian.AppendUint64(dst, s.Next)
	return binary.BigEndian.AppendUint64(dst, s.Head)
}

func decodeSyncEnd(b []byte) (syncEnd, error) {
	if len(b) != syncEndSize {
		return syncEnd{}, fmt.Errorf("%w: sync end of %d bytes", ErrProtocol, len(b))
	}
	return syncEnd{Next: binary.BigEndian.Uint64(b), Head: binary.BigEndian.Uint64(b[8:])}, nil
}
