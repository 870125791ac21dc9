package api

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/dag/dagtest"
)

// seedTransactions are valid transactions for the fuzzers' corpora.
func seedTransactions() []*dag.Transaction {
	net := dagtest.NewNetwork(1, testRules)
	gen := dagtest.NewGenerator(net, dagtest.GeneratorConfig{Seed: 7, BeaconEvery: 2, PayloadSize: 16})
	return gen.Take(4)
}

// wantTyped fails unless err carries one of the contract's codes other
// than internal: a decoder must say what is wrong with the input.
func wantTyped(t *testing.T, err error) {
	t.Helper()
	code := errorOf(err).code
	if _, ok := statusOf[code]; !ok || code == codeInternal {
		t.Fatalf("untyped error %v (code %q)", err, code)
	}
}

func FuzzBatchBinary(f *testing.F) {
	var raws [][]byte
	for _, tx := range seedTransactions() {
		raws = append(raws, tx.Bytes())
	}
	f.Add(binaryBatch(raws...))
	f.Add(binaryBatch(raws[0]))
	f.Add(binaryBatch(raws[0][:40], []byte{}))
	f.Add([]byte{0, 0, 0})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{})
	const maxItems = 8
	f.Fuzz(func(t *testing.T, body []byte) {
		items, err := parseBinaryBatch(body, maxItems)
		if err != nil {
			wantTyped(t, err)
			if items != nil {
				t.Fatal("items returned with an error")
			}
			return
		}
		if len(items) > maxItems {
			t.Fatalf("%d items, at most %d", len(items), maxItems)
		}
		// The frames tile the body exactly.
		var rebuilt []byte
		for _, item := range items {
			rebuilt = binary.BigEndian.AppendUint32(rebuilt, uint32(len(item)))
			rebuilt = append(rebuilt, item...)
		}
		if !bytes.Equal(rebuilt, body) {
			t.Fatal("items do not tile the body")
		}
		for _, item := range items {
			tx, err := decodeTransaction(encodingBinary, item, dag.DefaultMaxPayload)
			if err != nil {
				wantTyped(t, err)
				continue
			}
			if !bytes.Equal(tx.Bytes(), item) {
				t.Fatal("a decoded item does not re-encode to its bytes")
			}
		}
	})
}

func FuzzSubmitJSON(f *testing.F) {
	for _, tx := range seedTransactions() {
		data, err := json.Marshal(tx)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
		f.Add(bytes.Replace(data, []byte(`"version":1`), []byte(`"version":3`), 1))
		f.Add(bytes.Replace(data, []byte(`"kind":"`), []byte(`"kind":"x`), 1))
	}
	f.Add([]byte(`{}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"payload":"!!"}`))
	f.Add([]byte(`{"version":1,"time":"2026-01-01T00:00:00Z","nonce":"18446744073709551616"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		tx, err := decodeTransaction(encodingJSON, body, dag.DefaultMaxPayload)
		if err != nil {
			wantTyped(t, err)
			return
		}
		// Whatever decodes round-trips: the JSON form of the canonical
		// bytes decodes to the same bytes.
		again, err := json.Marshal(tx)
		if err != nil {
			t.Fatal(err)
		}
		tx2, err := decodeTransaction(encodingJSON, again, dag.DefaultMaxPayload)
		if err != nil {
			t.Fatalf("re-encoded JSON does not decode: %v", err)
		}
		if !bytes.Equal(tx.Bytes(), tx2.Bytes()) {
			t.Fatal("JSON round trip changed the transaction")
		}
	})
}

func FuzzBatchJSON(f *testing.F) {
	txs := seedTransactions()
	data, err := json.Marshal(map[string]any{"transactions": txs})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Add([]byte(`{"transactions":[]}`))
	f.Add([]byte(`{"transactions":null}`))
	f.Add([]byte(`{"transactions":[1,"x",{}]}`))
	f.Add([]byte(`{"transactions":[],"x":1}`))
	f.Add([]byte(`{"transactions":[]}]`))
	const maxItems = 8
	f.Fuzz(func(t *testing.T, body []byte) {
		items, err := parseJSONBatch(body, maxItems)
		if err != nil {
			wantTyped(t, err)
			var ae *apiError
			if !errors.Is(err, dag.ErrMalformed) && !(errors.As(err, &ae) && ae.code == codeBodyTooLarge) {
				t.Fatalf("whole-body error %v is neither malformed nor body_too_large", err)
			}
			return
		}
		if len(items) > maxItems {
			t.Fatalf("%d items, at most %d", len(items), maxItems)
		}
		for _, item := range items {
			if _, err := decodeTransaction(encodingJSON, item, dag.DefaultMaxPayload); err != nil {
				wantTyped(t, err)
			}
		}
	})
}

// TestFuzzSeedsAccepted keeps the seeds honest: the valid ones decode.
func TestFuzzSeedsAccepted(t *testing.T) {
	txs := seedTransactions()
	var raws [][]byte
	for _, tx := range txs {
		raws = append(raws, tx.Bytes())
	}
	items, err := parseBinaryBatch(binaryBatch(raws...), 8)
	if err != nil || len(items) != len(txs) {
		t.Fatalf("binary batch: %d items, %v", len(items), err)
	}
	for i, tx := range txs {
		data, _ := json.Marshal(tx)
		got, err := decodeTransaction(encodingJSON, data, dag.DefaultMaxPayload)
		if err != nil || got.ID() != tx.ID() {
			t.Fatalf("json %d: %v", i, err)
		}
		if got.IssuedAt().Before(dagtest.GenesisTime) || got.IssuedAt().After(dagtest.GenesisTime.Add(time.Minute)) {
			t.Fatalf("json %d: time %v", i, got.IssuedAt())
		}
	}
}
