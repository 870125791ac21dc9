package client_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log"
	"time"

	"github.com/tangled-ledger/tangled/client"
	"github.com/tangled-ledger/tangled/dag"
)

// A device loads (or on first start creates) its key, sends a reading and
// waits for its confirmation. It needs a running node, so it has no
// Output.
func Example() {
	const keyPath = "/var/lib/thermometer/key.json"
	key, err := client.LoadKey(keyPath)
	if errors.Is(err, fs.ErrNotExist) {
		if key, err = client.GenerateKey(); err == nil {
			err = client.SaveKey(keyPath, key, false)
		}
	}
	if err != nil {
		log.Fatal(err)
	}

	c, err := client.New("http://localhost:8080", client.Options{})
	if err != nil {
		log.Fatal(err)
	}
	d := client.NewDevice(c, key)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	id, err := d.Send(ctx, dag.KindData, []byte(`{"celsius":21.5}`))
	if err != nil {
		// Retryable trouble was already retried until ctx ended; the
		// transaction stays in d and the next Send delivers it first.
		log.Fatal(err)
	}
	st, err := c.WaitConfirmed(ctx, id)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(id, st.Status, st.ConfirmedIndex)
}

// A gateway follows what its devices' transactions become.
func ExampleClient_Events() {
	c, err := client.New("http://localhost:8080", client.Options{})
	if err != nil {
		log.Fatal(err)
	}
	var device dag.PublicKey // one of the gateway's devices
	for ev, err := range c.Events(context.Background(), client.EventFilter{Issuer: &device}) {
		if err != nil {
			log.Printf("stream ended: %v (retryable: %v)", err, client.IsRetryable(err))
			break
		}
		fmt.Println(ev.Kind, ev.ID, ev.Seq)
	}
}

// Errors from the node carry the contract's code.
func ExampleAPIError() {
	c, err := client.New("http://localhost:8080", client.Options{})
	if err != nil {
		log.Fatal(err)
	}
	_, err = c.Transaction(context.Background(), dag.ID{})
	var apiErr *client.APIError
	switch {
	case errors.Is(err, dag.ErrNotFound):
		fmt.Println("no such transaction")
	case errors.As(err, &apiErr):
		fmt.Println(apiErr.Status, apiErr.Code, apiErr.Message)
	case client.IsRetryable(err):
		fmt.Println("node unreachable, try again later")
	}
}
