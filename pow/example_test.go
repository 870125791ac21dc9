package pow_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/tangled-ledger/tangled/pow"
)

// A device solves for the difficulty its transaction needs; a node checks
// the nonce with one hash.
func Example() {
	rules := pow.DefaultRules()
	id := [32]byte{0xde, 0xad, 0xbe, 0xef} // a transaction ID
	payload := make([]byte, 600)
	recent := 3 // the issuer's transactions within the rate window before this one

	bits := rules.Required(len(payload), recent)
	nonce, err := pow.Solve(context.Background(), id, bits, 0)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("bits:", bits)
	fmt.Println("valid:", pow.Verify(id, nonce, rules.Required(len(payload), recent)))
	// Output:
	// bits: 13
	// valid: true
}

func ExampleSolve() {
	id := [32]byte{1, 2, 3}
	// One worker tries nonces in order, so the answer is the smallest valid
	// nonce and is the same on every run.
	nonce, err := pow.Solve(context.Background(), id, 8, 1)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(nonce, pow.Verify(id, nonce, 8))
	// Output: 70 true
}

func ExampleSolve_timeout() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	_, err := pow.Solve(ctx, [32]byte{}, pow.MaxBits, 0)
	fmt.Println(errors.Is(err, context.DeadlineExceeded))
	// Output: true
}

func ExampleLeadingZeroBits() {
	fmt.Println(pow.LeadingZeroBits([32]byte{0x00, 0x0f}))
	fmt.Println(pow.LeadingZeroBits([32]byte{}))
	// Output:
	// 12
	// 256
}

func ExampleRules_Required() {
	rules := pow.DefaultRules()
	fmt.Println(rules.Required(100, 0))  // the base cost
	fmt.Println(rules.Required(2048, 0)) // four 512-byte steps
	fmt.Println(rules.Required(100, 9))  // the tenth in its window: still free
	fmt.Println(rules.Required(100, 12)) // the thirteenth: three beyond the free ten
	fmt.Println(rules.Required(100, 1000))
	fmt.Println(rules.MaxCounted()) // counting beyond this changes nothing
	// Output:
	// 12
	// 16
	// 12
	// 15
	// 32
	// 30
}

// Rules live in the genesis file, with the rate window as a duration string.
func ExampleRules() {
	genesis := []byte(`{
		"base_bits": 10,
		"payload_bytes_per_bit": 256,
		"rate_window": "1m",
		"free_per_window": 6,
		"bits_per_excess": 2,
		"max_bits": 28
	}`)
	var rules pow.Rules
	if err := json.Unmarshal(genesis, &rules); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(rules.RateWindow, rules.Required(512, 6))

	out, _ := json.Marshal(pow.DefaultRules())
	fmt.Println(string(out))
	// Output:
	// 1m0s 14
	// {"base_bits":12,"payload_bytes_per_bit":512,"free_per_window":10,"bits_per_excess":1,"max_bits":32,"rate_window":"10s"}
}
