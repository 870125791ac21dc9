// Package sim is a discrete-event simulator of the continuous-time Tangle
// model (Popov, "The Tangle"; Kuśmierz et al.) in virtual time. It drives the
// real dag.Ledger and the tipselect URTS and MCMC selectors: a transaction
// issued at virtual time t chooses its parents among the tips of the ledger
// as it is at t, and is attached to the ledger at t+h, when it and its
// approvals become visible to everyone. The ledger therefore holds exactly
// what is visible. No goroutine sleeps and no wall clock is read by the
// model, so a seed fixes the output byte for byte.
//
// Run simulates one configuration:
//
//	res, err := sim.Run(sim.Config{
//		Lambda: 50,                             // transactions per virtual second
//		Delay:  sim.ConstantDelay(2 * time.Second), // h
//		Count:  200_000,
//		Seed:   1,
//	})
//	if err != nil { ... }
//	fmt.Println(res.Summary.MeanTips / (50 * 2)) // ≈ 2: L ≈ 2λh
//
// Result.WriteFiles writes the CSV series and the plots; Result.WriteTable
// and the JSON form of Summary are what `tangled bench sim` prints.
//
// The model, the definitions of the reported quantities and the decisions
// behind them are in docs/bench/sim.md.
package sim
