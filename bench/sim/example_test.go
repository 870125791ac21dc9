package sim_test

import (
	"fmt"
	"time"

	"github.com/tangled-ledger/tangled/bench/sim"
)

// Uniform random tip selection at λh = 100 keeps about 2λh tips.
func Example() {
	res, err := sim.Run(sim.Config{
		Lambda: 50,
		Delay:  sim.ConstantDelay(2 * time.Second),
		Count:  50_000,
		Seed:   1,
	})
	if err != nil {
		panic(err)
	}
	s := res.Summary
	fmt.Printf("L/(λh) ≈ %.1f, mean direct approvers ≈ %.1f\n", s.MeanTipsOverLambdaH, s.MeanDirectApprovers)
	// Output: L/(λh) ≈ 2.0, mean direct approvers ≈ 2.0
}
