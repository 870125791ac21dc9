// Package tipselect chooses the two parents (trunk and branch) of a new
// transaction. It offers two selectors over a read-only View of the ledger:
//
//   - URTS, uniform random tip selection over a scored tip pool (Hornet's
//     TIP-3), the node's default: O(1) per selection, safe for many
//     concurrent selectors while transactions attach.
//   - MCMC, the whitepaper's random walk biased by cumulative weight with
//     α, as IRI did it, for research and the simulator.
//
// Both are pure: besides the View they take the time and a random source as
// arguments and never read the wall clock or a global generator, so the
// simulator drives them in virtual time and a test reproduces any run from
// its seed. The package imports only dag; *dag.Ledger satisfies View.
//
// # Laziness
//
// A tip is judged by the confirmed transactions its unconfirmed past reaches
// (dag.Info's OldestRoot and YoungestRoot), measured behind the
// confirmation frontier: the issuing time of the newest confirmed
// transaction. A tip is lazy, and never selected, when its oldest root lies
// more than BelowMaxDepth behind the frontier or its youngest root more
// than MaxYoungestRootAge; it is semi-lazy, and selected only when no
// non-lazy tip is left, when its oldest root lies more than SemiLazyAge
// behind. Approving a lazy tip would drag old history into the future of
// new transactions; semi-lazy tips are still worth rescuing. The frontier,
// not the wall clock, is the yardstick, as Hornet's confirmed milestone was:
// a network that was down for an hour resumes confirming, because the tips
// that approve the old frontier are fresh relative to it. The price of time
// units is that the first confirmation after such an outage moves the
// frontier by the whole outage at once: a transaction issued before it that
// approves only older history, and that it does not cover, turns lazy and
// must be reattached by its issuer. Validators that keep issuing beacons
// while other traffic is idle keep the frontier moving and avoid the jump.
//
// When the pools run dry, URTS.Select falls back to the newest confirmed
// transaction, so a fresh network, or a node just restarted with an empty
// pool, always has parents.
//
// # Use in a node
//
// The composition root feeds the ledger's events to the pool and serves
// selections, each goroutine with its own random source:
//
//	urts, err := tipselect.NewURTS(tipselect.URTSConfig{}, ledger)
//	if err != nil {
//		return err
//	}
//	for ev := range events {
//		switch ev.Kind {
//		case dag.EventAttached:
//			urts.Add(ev.Info, time.Now())
//		case dag.EventConflicting:
//			urts.Remove(ev.Info.ID)
//		}
//	}
//
//	// In a request handler:
//	rng := rand.New(rand.NewPCG(seed1, seed2)) // math/rand/v2
//	trunk, branch, err := urts.Select(rng, time.Now())
//
// Add and Remove never call the View, so the ledger may call them from its
// event dispatch while holding its own locks; Select reads the View before
// taking the pool's lock.
//
// The random walk needs no events; it reads the DAG through the View:
//
//	walk, err := tipselect.NewMCMC(tipselect.MCMCConfig{Alpha: 0.001}, ledger)
//	trunk, branch, err := walk.Select(rng)
//
// A walk starts at a recently confirmed transaction (RecentConfirmed of
// StartDepth), never at a random deep one, and steps to a non-conflicting
// approver y with probability proportional to exp(α·H_y), H being the
// cumulative weight, until it reaches a transaction with no such approver.
package tipselect
