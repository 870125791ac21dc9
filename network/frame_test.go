package network

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tangled-ledger/tangled/dag"
)

// header returns a frame header announcing n payload bytes of type t.
func header(t byte, n uint32) []byte {
	return binary.BigEndian.AppendUint32([]byte{t}, n)
}

type frame struct {
	Type    byte
	Payload []byte
}

// readAll reads frames until the reader fails.
func readAll(b []byte, maxPayload int) ([]frame, error) {
	fr := newFrameReader(bytes.NewReader(b), maxPayload)
	var out []frame
	for {
		t, p, err := fr.next()
		if err != nil {
			return out, err
		}
		out = append(out, frame{t, bytes.Clone(p)})
	}
}

// TestFrameLimits: every frame type is accepted at its limit and refused
// with ErrFrameTooLarge one byte over it, before the payload is read; the
// transaction limits follow the genesis payload maximum.
func TestFrameLimits(t *testing.T) {
	const maxPayload = 100
	limits := []struct {
		name  string
		typ   byte
		limit int
	}{
		{"transaction", frameTx, dag.MinSize + maxPayload},
		{"heartbeat", frameHeartbeat, heartbeatBaseSize + MaxHeartbeatTips*dag.IDSize},
		{"request", frameRequest, MaxRequestIDs * dag.IDSize},
		{"sync request", frameSyncRequest, syncRequestSize},
		{"sync transaction", frameSyncTx, 8 + dag.MinSize + maxPayload},
		{"sync end", frameSyncEnd, syncEndSize},
	}
	for _, tt := range limits {
		typ, limit := tt.typ, tt.limit
		t.Run(tt.name, func(t *testing.T) {
			if got := maxFrame(typ, maxPayload); got != limit {
				t.Fatalf("maxFrame = %d, want %d", got, limit)
			}
			payload := bytes.Repeat([]byte{7}, limit)
			got, err := readAll(appendFrame(nil, typ, payload), maxPayload)
			if err != io.EOF {
				t.Fatalf("at the limit: %v", err)
			}
			if diff := cmp.Diff([]frame{{typ, payload}}, got); diff != "" {
				t.Fatalf("at the limit (-want +got):\n%s", diff)
			}
			// Only the header of the oversize frame is sent: the reader
			// must refuse it without waiting for the payload.
			_, err = readAll(header(typ, uint32(limit+1)), maxPayload)
			if !errors.Is(err, ErrFrameTooLarge) {
				t.Fatalf("one byte over the limit: %v, want ErrFrameTooLarge", err)
			}
		})
	}
}

// TestFrameReaderErrors: malformed input is refused with an error wrapping
// ErrProtocol (or io.EOF at a clean end), after the frames before it.
func TestFrameReaderErrors(t *testing.T) {
	hb := Heartbeat{Transactions: 1}.append(nil)
	good := appendFrame(nil, frameHeartbeat, hb)
	tests := []struct {
		name     string
		in       []byte
		frames   int   // complete frames before the error
		want     error // errors.Is target
		tooLarge bool  // whether the error is ErrFrameTooLarge
	}{
		{"empty", nil, 0, io.EOF, false},
		{"one frame", good, 1, io.EOF, false},
		{"empty payload", header(frameRequest, 0), 1, io.EOF, false},
		{"type 0", header(0, 0), 0, ErrProtocol, false},
		{"type 7", header(7, 1), 0, ErrProtocol, false},
		{"type 255", append(good, header(255, 0)...), 1, ErrProtocol, false},
		{"truncated header", good[:3], 0, ErrProtocol, false},
		{"truncated header after a frame", append(good, frameTx, 0), 1, ErrProtocol, false},
		{"truncated payload", good[:len(good)-1], 0, ErrProtocol, false},
		{"payload missing", header(frameHeartbeat, heartbeatBaseSize), 0, ErrProtocol, false},
		{"length 2^32-1", header(frameTx, 1<<32-1), 0, ErrProtocol, true},
		{"oversize after a frame", append(good, header(frameSyncEnd, syncEndSize+1)...), 1, ErrProtocol, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			frames, err := readAll(tt.in, dag.DefaultMaxPayload)
			if !errors.Is(err, tt.want) || errors.Is(err, ErrFrameTooLarge) != tt.tooLarge {
				t.Fatalf("error %v, want %v (too large: %v)", err, tt.want, tt.tooLarge)
			}
			if len(frames) != tt.frames {
				t.Fatalf("%d frames before the error, want %d", len(frames), tt.frames)
			}
		})
	}
}

// TestFrameReaderDoesNotAllocateForOversize: a refused length does not
// make the reader allocate a buffer for it.
func TestFrameReaderDoesNotAllocateForOversize(t *testing.T) {
	in := header(frameTx, 1<<31)
	fr := newFrameReader(bytes.NewReader(in), dag.DefaultMaxPayload)
	if _, _, err := fr.next(); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("got %v", err)
	}
	if cap(fr.buf) != 0 {
		t.Fatalf("buffer of %d bytes allocated for a refused frame", cap(fr.buf))
	}
}

// TestPreamble: a stream's first five bytes are checked for magic,
// version and purpose.
func TestPreamble(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want purpose
		err  error
	}{
		{"gossip", appendPreamble(nil, purposeGossip), purposeGossip, nil},
		{"request", appendPreamble(nil, purposeRequest), purposeRequest, nil},
		{"sync", appendPreamble(nil, purposeSync), purposeSync, nil},
		{"followed by a frame", append(appendPreamble(nil, purposeSync), header(frameSyncRequest, 12)...), purposeSync, nil},
		{"bad magic", []byte("TGX\x01\x01"), 0, ErrProtocol},
		{"lower-case magic", []byte("tgl\x01\x01"), 0, ErrProtocol},
		{"version 0", []byte("TGL\x00\x01"), 0, ErrProtocol},
		{"version 1 (fixed-size heartbeats)", []byte("TGL\x01\x01"), 0, ErrProtocol},
		{"version 3", []byte("TGL\x03\x01"), 0, ErrProtocol},
		{"purpose 0", []byte("TGL\x02\x00"), 0, ErrProtocol},
		{"blob", appendPreamble(nil, purposeBlob), purposeBlob, nil},
		{"purpose 5", []byte("TGL\x02\x05"), 0, ErrProtocol},
		{"HTTP", []byte("GET / HTTP/1.1\r\n"), 0, ErrProtocol},
		{"truncated", []byte("TGL\x02"), 0, ErrProtocol},
		{"empty", nil, 0, io.EOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readPreamble(bytes.NewReader(tt.in))
			if got != tt.want || !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
				t.Fatalf("readPreamble = %d, %v; want %d, %v", got, err, tt.want, tt.err)
			}
		})
	}
}

// TestDecodersRefuseWrongSizes: the fixed-size payloads are refused at any
// other size, heartbeats at any size that is not whole tip IDs, and sync
// arrivals start at 1.
func TestDecodersRefuseWrongSizes(t *testing.T) {
	decoders := map[string]struct {
		size   int
		decode func([]byte) error
	}{
		"sync request": {syncRequestSize, func(b []byte) error { _, err := decodeSyncRequest(b); return err }},
		"sync end":     {syncEndSize, func(b []byte) error { _, err := decodeSyncEnd(b); return err }},
	}
	for name, d := range decoders {
		for _, n := range []int{0, d.size - 1, d.size + 1} {
			if err := d.decode(make([]byte, n)); !errors.Is(err, ErrProtocol) {
				t.Errorf("%s of %d bytes: %v", name, n, err)
			}
		}
	}
	// A heartbeat is its base and whole tip IDs, at most MaxHeartbeatTips.
	for _, n := range []int{0, heartbeatBaseSize - 1, heartbeatBaseSize + 1, heartbeatBaseSize + dag.IDSize - 1,
		heartbeatBaseSize + (MaxHeartbeatTips+1)*dag.IDSize} {
		if _, err := decodeHeartbeat(make([]byte, n)); !errors.Is(err, ErrProtocol) {
			t.Errorf("heartbeat of %d bytes: %v", n, err)
		}
	}
	for _, tips := range []int{0, 1, MaxHeartbeatTips} {
		if _, err := decodeHeartbeat(make([]byte, heartbeatBaseSize+tips*dag.IDSize)); err != nil {
			t.Errorf("heartbeat with %d tips: %v", tips, err)
		}
	}
	if _, err := decodeSyncRequest(syncRequest{From: 0, Limit: 1}.append(nil)); !errors.Is(err, ErrProtocol) {
		t.Errorf("sync request from arrival 0: %v", err)
	}
	if _, _, err := decodeSyncTx(make([]byte, 8+dag.MinSize)); !errors.Is(err, ErrProtocol) {
		t.Errorf("sync transaction at arrival 0: %v", err)
	}
	if _, _, err := decodeSyncTx(append([]byte{0, 0, 0, 0, 0, 0, 0, 1}, make([]byte, dag.MinSize-1)...)); !errors.Is(err, ErrProtocol) {
		t.Errorf("sync transaction shorter than a transaction: %v", err)
	}
	for _, n := range []int{0, 1, dag.IDSize - 1, dag.IDSize + 1} {
		if _, err := decodeIDs(make([]byte, n), nil); !errors.Is(err, ErrProtocol) {
			t.Errorf("request of %d bytes: %v", n, err)
		}
	}
}
