package dag_test

import (
	"testing"

	"github.com/tangled-ledger/tangled/dag"
)

// BenchmarkDecodeJSON decodes the JSON form of a transaction with a
// 64-byte payload, as the API does for every JSON post.
func BenchmarkDecodeJSON(b *testing.B) {
	js, err := sampleTx(b, make([]byte, 64)).MarshalJSON()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(js)))
	for b.Loop() {
		if _, err := dag.DecodeJSON(js); err != nil {
			b.Fatal(err)
		}
	}
}
