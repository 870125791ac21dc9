package storage_test

import (
	"errors"
	"fmt"
	"log"
	"os"

	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/storage"
)

// A write set attaches transactions under their arrival numbers and parks
// others; after a restart, Replay returns the log in the same order.
func Example() {
	dir, err := os.MkdirTemp("", "storage-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	store, err := storage.Open(dir, storage.Options{})
	if err != nil {
		log.Fatal(err)
	}
	err = store.Commit(&dag.WriteSet{
		Attached: []dag.StoredTransaction{
			{Arrival: 1, ID: dag.ID{0xa1}, Raw: []byte("first")},
			{Arrival: 2, ID: dag.ID{0xa2}, Raw: []byte("second")},
		},
		Parked: []dag.StoredTransaction{{ID: dag.ID{0xb1}, Raw: []byte("orphan")}},
	})
	if err != nil {
		log.Fatal(err)
	}
	// The orphan's parents arrived: it attaches and leaves the parking
	// lot in one atomic write set.
	err = store.Commit(&dag.WriteSet{
		Attached: []dag.StoredTransaction{{Arrival: 3, ID: dag.ID{0xb1}, Raw: []byte("orphan")}},
		Unparked: []dag.ID{{0xb1}},
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := store.Close(); err != nil {
		log.Fatal(err)
	}

	store, err = storage.Open(dir, storage.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	err = store.Replay(
		func(arrival uint64, raw []byte) error {
			fmt.Printf("attached %d: %s\n", arrival, raw)
			return nil
		},
		func(raw []byte) error {
			fmt.Printf("parked: %s\n", raw)
			return nil
		})
	if err != nil {
		log.Fatal(err)
	}
	// Output:
	// attached 1: first
	// attached 2: second
	// attached 3: orphan
}

// Range serves a peer that is catching up from a given arrival.
func ExampleMemory_Range() {
	store := storage.NewMemory()
	var attached []dag.StoredTransaction
	for i := uint64(1); i <= 5; i++ {
		attached = append(attached, dag.StoredTransaction{Arrival: i, Raw: fmt.Appendf(nil, "tx%d", i)})
	}
	if err := store.Commit(&dag.WriteSet{Attached: attached}); err != nil {
		log.Fatal(err)
	}
	err := store.Range(4, func(arrival uint64, raw []byte) error {
		fmt.Printf("%d: %s\n", arrival, raw)
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := store.Transaction(9); errors.Is(err, dag.ErrNotFound) {
		fmt.Println("9: not found")
	}
	// Output:
	// 4: tx4
	// 5: tx5
	// 9: not found
}
