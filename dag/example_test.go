package dag_test

import (
	"fmt"
	"time"

	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/dag/dagtest"
	"github.com/tangled-ledger/tangled/pow"
)

// A device attaches a reading, a validator's beacon approves it, and the
// reading is confirmed.
func Example() {
	net := dagtest.NewNetwork(1, pow.Rules{BaseBits: 4})
	l, err := dag.Open(dag.Config{Genesis: net.Genesis, Now: func() time.Time { return dagtest.GenesisTime.Add(time.Hour) }})
	if err != nil {
		panic(err)
	}
	confirmed := make(chan dag.ID, 1)
	l.Subscribe(func(e dag.Event) {
		if e.Kind == dag.EventConfirmed {
			confirmed <- e.Info.ID
		}
	})

	device := dagtest.NewIssuer("thermometer", net.Genesis.Difficulty)
	reading := device.Issue(dag.KindData, l.Root(), l.Root(), dagtest.GenesisTime.Add(time.Second).UnixNano(), []byte("21.5C"))
	validator := &dagtest.Issuer{Key: net.Validators[0], Rules: net.Genesis.Difficulty}
	beacon := validator.Issue(dag.KindBeacon, reading.ID(), reading.ID(), dagtest.GenesisTime.Add(2*time.Second).UnixNano(), nil)

	results, err := l.AttachVerified([]*dag.Transaction{reading, beacon}).Wait()
	if err != nil {
		panic(err)
	}
	fmt.Println(results[0].Status, results[1].Status)
	fmt.Println(<-confirmed == reading.ID())
	// Output:
	// attached attached
	// true
}
