package network

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"reflect"
	"testing"
	"testing/iotest"

	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/dag/dagtest"
	"github.com/tangled-ledger/tangled/pow"
)

// fuzzMaxPayload is the genesis default, the payload maximum most seeds use.
const fuzzMaxPayload = dag.DefaultMaxPayload

// seedTxs returns a few valid encoded transactions for seed corpora.
func seedTxs() [][]byte {
	net := dagtest.NewNetwork(1, pow.Rules{BaseBits: 1})
	gen := dagtest.NewGenerator(net, dagtest.GeneratorConfig{Seed: 1, BeaconEvery: 2, PayloadSize: 16})
	return dagtest.Encode(gen.Take(3))
}

// seedStreams returns valid frame sequences of every type, as a node writes
// them after the preamble.
func seedStreams() [][]byte {
	txs := seedTxs()
	hb := Heartbeat{Transactions: 7, Confirmed: 3, Tips: 2, Parked: 1}.append(nil)
	var gossip []byte
	for _, raw := range txs {
		gossip = appendFrame(gossip, frameTx, raw)
	}
	gossip = appendFrame(gossip, frameHeartbeat, hb)

	var id dag.ID
	id[0] = 1
	request := appendFrame(nil, frameRequest, id[:], id[:])

	sync := appendFrame(nil, frameSyncRequest, syncRequest{From: 1, Limit: 10}.append(nil))
	var arrival [8]byte
	for i, raw := range txs {
		putUint64(arrival[:], uint64(i+1))
		sync = appendFrame(sync, frameSyncTx, arrival[:], raw)
	}
	sync = appendFrame(sync, frameSyncEnd, syncEnd{Next: 4, Head: 9}.append(nil))
	return [][]byte{gossip, request, sync, appendFrame(nil, frameHeartbeat, hb)}
}

// FuzzFrameReader feeds arbitrary bytes to a frameReader. It checks the
// reader against a model of the format: every frame it returns is within
// its type's limit and re-encodes to exactly the bytes it consumed, and it
// stops with io.EOF exactly at the end of the input or with an error
// wrapping ErrProtocol that names the right fault (ErrFrameTooLarge only for
// a known type whose length is over its limit).
func FuzzFrameReader(f *testing.F) {
	for _, s := range seedStreams() {
		f.Add(s, uint16(fuzzMaxPayload), false)
		f.Add(s, uint16(fuzzMaxPayload), true)
	}
	f.Add([]byte{frameTx, 0xff, 0xff, 0xff, 0xff}, uint16(fuzzMaxPayload), false)
	f.Add(binary.BigEndian.AppendUint32([]byte{frameHeartbeat}, maxHeartbeatSize+1), uint16(0), false)
	f.Add([]byte{0, 0, 0, 0, 0}, uint16(0), false)
	f.Add([]byte{frameSyncEnd, 0, 0}, uint16(0), true)
	f.Add([]byte{}, uint16(0), false)
	f.Fuzz(func(t *testing.T, data []byte, maxPayload uint16, oneByte bool) {
		mp := int(maxPayload)
		var r io.Reader = bytes.NewReader(data)
		if oneByte {
			r = iotest.OneByteReader(r) // short reads through bufio
		}
		fr := newFrameReader(r, mp)
		var consumed []byte // the frames returned so far, re-encoded
		for {
			typ, payload, err := fr.next()
			if err != nil {
				checkReaderStop(t, data, consumed, mp, err)
				return
			}
			limit := maxFrame(typ, mp)
			if limit < 0 || len(payload) > limit {
				t.Fatalf("frame type %d with %d bytes, limit %d", typ, len(payload), limit)
			}
			consumed = appendFrame(consumed, typ, payload)
			if !bytes.HasPrefix(data, consumed) {
				t.Fatalf("frames re-encode to %x, not a prefix of the input %x", consumed, data)
			}
		}
	})
}

// checkReaderStop checks the error that ended a read of data, after the
// frames that re-encode to consumed.
func checkReaderStop(t *testing.T, data, consumed []byte, maxPayload int, err error) {
	t.Helper()
	rest := data[len(consumed):]
	if len(rest) == 0 {
		if err != io.EOF {
			t.Fatalf("at the end of the input: %v, want io.EOF", err)
		}
		return
	}
	if !errors.Is(err, ErrProtocol) {
		t.Fatalf("%d bytes left: %v, want ErrProtocol", len(rest), err)
	}
	if len(rest) < frameHeaderSize {
		return // truncated header
	}
	typ, n := rest[0], binary.BigEndian.Uint32(rest[1:])
	limit := maxFrame(typ, maxPayload)
	tooLarge := limit >= 0 && uint64(n) > uint64(limit)
	if errors.Is(err, ErrFrameTooLarge) != tooLarge {
		t.Fatalf("type %d, length %d, limit %d: %v", typ, n, limit, err)
	}
	if limit >= 0 && !tooLarge && uint64(len(rest)-frameHeaderSize) >= uint64(n) {
		t.Fatalf("a complete frame of type %d was refused: %v", typ, err)
	}
}

// FuzzParsePreamble: parsePreamble accepts exactly the encodings
// appendPreamble produces, and readPreamble agrees with it.
func FuzzParsePreamble(f *testing.F) {
	for _, p := range []purpose{purposeGossip, purposeRequest, purposeSync} {
		f.Add(appendPreamble(nil, p))
	}
	f.Add([]byte("TGL\x02\x01"))
	f.Add([]byte("TGL\x01\x09"))
	f.Add([]byte("GET / HTTP/1.1"))
	f.Add([]byte("TG"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := parsePreamble(b)
		if err != nil {
			if !errors.Is(err, ErrProtocol) {
				t.Fatalf("%v does not wrap ErrProtocol", err)
			}
		} else if got := appendPreamble(nil, p); !bytes.Equal(got, b) {
			t.Fatalf("parsed %x as purpose %d, which encodes as %x", b, p, got)
		}

		rp, rerr := readPreamble(bytes.NewReader(b))
		switch {
		case len(b) == 0:
			if rerr != io.EOF {
				t.Fatalf("readPreamble of nothing: %v, want io.EOF", rerr)
			}
		case len(b) < preambleSize:
			if !errors.Is(rerr, ErrProtocol) {
				t.Fatalf("readPreamble of %d bytes: %v, want ErrProtocol", len(b), rerr)
			}
		default:
			wp, werr := parsePreamble(b[:preambleSize])
			if rp != wp || (rerr == nil) != (werr == nil) {
				t.Fatalf("readPreamble %d, %v; parsePreamble %d, %v", rp, rerr, wp, werr)
			}
		}
	})
}

// FuzzDecodeHeartbeat: decode(append(h)) == h, and append(decode(b)) == b
// for every accepted b.
func FuzzDecodeHeartbeat(f *testing.F) {
	tip := dag.ID{1, 2, 3}
	f.Add(Heartbeat{Transactions: 7, Confirmed: 3, Tips: 2, Parked: 1, LatestConfirmed: tip, TipIDs: []dag.ID{tip, {9}}}.append(nil),
		uint64(1), uint64(2), uint32(3), uint32(4), []byte{5}, uint8(2))
	f.Add(make([]byte, heartbeatBaseSize-1), uint64(0), uint64(0), uint32(0), uint32(0), []byte(nil), uint8(0))
	f.Fuzz(func(t *testing.T, b []byte, txs, confirmed uint64, tips, parked uint32, seed []byte, n uint8) {
		h := Heartbeat{Transactions: txs, Confirmed: confirmed, Tips: tips, Parked: parked}
		copy(h.LatestConfirmed[:], seed)
		for i := range int(n) % (MaxHeartbeatTips + 1) {
			id := h.LatestConfirmed
			id[0] ^= byte(i + 1)
			h.TipIDs = append(h.TipIDs, id)
		}
		got, err := decodeHeartbeat(h.append(nil))
		if err != nil || !reflect.DeepEqual(got, h) {
			t.Fatalf("round trip of %+v: %+v, %v", h, got, err)
		}
		got, err = decodeHeartbeat(b)
		if err != nil {
			if !errors.Is(err, ErrProtocol) {
				t.Fatalf("%d bytes: %v does not wrap ErrProtocol", len(b), err)
			}
			return
		}
		if re := got.append(nil); !bytes.Equal(re, b) {
			t.Fatalf("decoded %x as %+v, which encodes as %x", b, got, re)
		}
	})
}

// FuzzDecodeIDs: a request splits into whole IDs that concatenate back to
// it, appended after what dst held.
func FuzzDecodeIDs(f *testing.F) {
	id := make([]byte, dag.IDSize)
	id[3] = 9
	f.Add(id)
	f.Add(append(append([]byte(nil), id...), id...))
	f.Add(id[:dag.IDSize-1])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		var sentinel dag.ID
		sentinel[0] = 0xAA
		ids, err := decodeIDs(b, []dag.ID{sentinel})
		if len(ids) == 0 || ids[0] != sentinel {
			t.Fatalf("dst's entries lost: %v", ids)
		}
		if err != nil {
			if !errors.Is(err, ErrProtocol) || (len(b) > 0 && len(b)%dag.IDSize == 0) {
				t.Fatalf("%d bytes: %v", len(b), err)
			}
			return
		}
		var re []byte
		for _, id := range ids[1:] {
			re = append(re, id[:]...)
		}
		if !bytes.Equal(re, b) {
			t.Fatalf("decoded %x as %d IDs, which concatenate to %x", b, len(ids)-1, re)
		}
	})
}

// FuzzDecodeSyncRequest: round trips both ways; arrival 0 is refused.
func FuzzDecodeSyncRequest(f *testing.F) {
	f.Add(syncRequest{From: 1, Limit: 50_000}.append(nil), uint64(1), uint32(0))
	f.Add(syncRequest{From: 0, Limit: 1}.append(nil), uint64(0), uint32(1))
	f.Add([]byte{1, 2, 3}, uint64(1<<63), ^uint32(0))
	f.Fuzz(func(t *testing.T, b []byte, from uint64, limit uint32) {
		s := syncRequest{From: from, Limit: limit}
		got, err := decodeSyncRequest(s.append(nil))
		if (err == nil) != (from != 0) || (err == nil && got != s) {
			t.Fatalf("round trip of %+v: %+v, %v", s, got, err)
		}
		got, err = decodeSyncRequest(b)
		if err != nil {
			if !errors.Is(err, ErrProtocol) {
				t.Fatalf("%v does not wrap ErrProtocol", err)
			}
			return
		}
		if re := got.append(nil); !bytes.Equal(re, b) || got.From == 0 {
			t.Fatalf("decoded %x as %+v, which encodes as %x", b, got, re)
		}
	})
}

// FuzzDecodeSyncTx: the arrival and raw transaction come back as they were
// framed (appendFrame's parts are the encoder); arrival 0 and payloads too
// short for a transaction are refused.
func FuzzDecodeSyncTx(f *testing.F) {
	for i, raw := range seedTxs() {
		var a [8]byte
		putUint64(a[:], uint64(i+1))
		f.Add(append(a[:], raw...), uint64(i+1), raw)
	}
	f.Add(make([]byte, 8+dag.MinSize), uint64(0), []byte{1})
	f.Fuzz(func(t *testing.T, b []byte, arrival uint64, raw []byte) {
		var a [8]byte
		putUint64(a[:], arrival)
		framed := append(a[:], raw...)
		ga, graw, err := decodeSyncTx(framed)
		valid := arrival != 0 && len(raw) >= dag.MinSize
		if (err == nil) != valid || (err == nil && (ga != arrival || !bytes.Equal(graw, raw))) {
			t.Fatalf("round trip of %d, %d bytes: %d, %d bytes, %v", arrival, len(raw), ga, len(graw), err)
		}
		ga, graw, err = decodeSyncTx(b)
		if err != nil {
			if !errors.Is(err, ErrProtocol) {
				t.Fatalf("%v does not wrap ErrProtocol", err)
			}
			return
		}
		putUint64(a[:], ga)
		if re := append(a[:], graw...); !bytes.Equal(re, b) || ga == 0 || len(graw) < dag.MinSize {
			t.Fatalf("decoded %x as %d, %x", b, ga, graw)
		}
	})
}

// FuzzDecodeSyncEnd: round trips both ways.
func FuzzDecodeSyncEnd(f *testing.F) {
	f.Add(syncEnd{Next: 10, Head: 9}.append(nil), uint64(1), uint64(0))
	f.Add([]byte{0}, ^uint64(0), ^uint64(0))
	f.Fuzz(func(t *testing.T, b []byte, next, head uint64) {
		s := syncEnd{Next: next, Head: head}
		if got, err := decodeSyncEnd(s.append(nil)); err != nil || got != s {
			t.Fatalf("round trip of %+v: %+v, %v", s, got, err)
		}
		got, err := decodeSyncEnd(b)
		if err != nil {
			if !errors.Is(err, ErrProtocol) || len(b) == syncEndSize {
				t.Fatalf("%d bytes: %v", len(b), err)
			}
			return
		}
		if re := got.append(nil); !bytes.Equal(re, b) {
			t.Fatalf("decoded %x as %+v, which encodes as %x", b, got, re)
		}
	})
}
