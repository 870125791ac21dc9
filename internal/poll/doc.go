// Package poll is the tests' one way to wait for a condition that has no
// event of its own (the server side of a connection, a peer's view of
// another): it checks the condition with a short, growing pause and fails
// the test with what it waited for once the deadline passes. Where an
// event exists (a ledger subscription, an event stream), tests wait on
// the event instead.
//
//	poll.Until(t, 5*time.Second, "the peer banned", func() bool {
//		return info(peer).State == network.StateBanned
//	})
package poll
