// Package client is the Go SDK for devices and the gateways in front of
// them: it keeps a device's key, asks a node for parents, chain head and
// difficulty, signs, does the proof-of-work, posts, and waits for
// confirmation, over the node's HTTP API (docs/api-contract.md).
//
// A Client is one node's API; each of its methods is one request. A Device
// is one key's chain on top of it: Send does the whole issuing round and
// retries what can be retried, re-sending the very same bytes, so that a
// device never signs two transactions with one sequence number (that is
// what a cloned key looks like, and the network quarantines it).
// WaitConfirmed follows a transaction to confirmation over the event
// stream, reconnecting as needed.
//
//	func report(ctx context.Context, reading []byte) error {
//		c, err := client.New("http://localhost:8080", client.Options{})
//		if err != nil {
//			return err
//		}
//		key, err := client.LoadKey("/etc/thermometer/key.json")
//		if err != nil {
//			return err
//		}
//		d := client.NewDevice(c, key)
//		ctx, cancel := context.WithTimeout(ctx, time.Minute)
//		defer cancel()
//		id, err := d.Send(ctx, dag.KindData, reading)
//		if err != nil {
//			return err // d.Pending() is re-sent by the next Send
//		}
//		st, err := c.WaitConfirmed(ctx, id)
//		if err != nil {
//			return err
//		}
//		log.Printf("%s confirmed at position %d", id, st.ConfirmedIndex)
//		return nil
//	}
//
// In a network whose genesis names authorities, an Authority registers
// devices (the registration's ID is the device's identity) and suspends,
// resumes, revokes or transfers them; Device.Rotate moves a device to a new
// key and goes on signing with it; Client.Device, DeviceHistory and
// Authorities read the node's device registry. A device's rules judge each
// transaction by its own past, so a refusal such as device_suspended is
// final for that transaction and frees its sequence number.
//
// Access policies are CEL programs an Authority attaches with SetPolicy to
// the network, a class or one device; Client.Policies lists them, and a
// denied transaction is an *APIError with code policy_denied naming the
// policy. Device.Command (and Authority.Command) sends a command that the
// target's policies judge. A device too weak to solve proof-of-work runs
// with DeviceOptions.NodeWork: it only fetches tips and signs, and the
// node does the work within the allowance of the device's policy
// (Client.PostNodeWork).
//
// Errors from the node are *APIError values with the contract's stable
// code; errors.Is matches them to the dag sentinels (dag.ErrWork for
// insufficient_work, and so on), and IsRetryable tells overload and
// network trouble from a verdict. Keys live in small JSON files that
// SaveKey writes atomically with mode 0600 and LoadKey checks strictly.
//
// The package starts no goroutines of its own beyond pow.Solve's workers,
// which have exited when a Send returns; an event stream holds only its
// connection and an idle timer, both released by Close, by the end of its
// context, or by leaving the range loop of Events.
package client
