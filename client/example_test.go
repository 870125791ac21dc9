package client_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/tangled-ledger/tangled/client"
	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/node"
)

// exampleNode starts a real development node (its own data directory, a
// free loopback port) for an example and returns its URL and a stop
// function, so that the examples run and their Output is checked.
func exampleNode() (url string, dir string, stop func()) {
	dir, err := os.MkdirTemp("", "tangled-example-")
	if err != nil {
		log.Fatal(err)
	}
	n, err := node.New(node.Config{
		DataDir: filepath.Join(dir, "node"), HTTPAddr: "127.0.0.1:0",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	return "http://" + n.HTTPAddr(), dir, func() {
		cancel()
		<-done
		os.RemoveAll(dir)
	}
}

// A device loads (or on first start creates) its key, sends a reading and
// waits for its confirmation.
func Example() {
	nodeURL, dir, stop := exampleNode()
	defer stop()

	keyPath := filepath.Join(dir, "thermometer.key") // e.g. /var/lib/thermometer/key
	key, err := client.LoadKey(keyPath)
	if errors.Is(err, fs.ErrNotExist) {
		if key, err = client.GenerateKey(); err == nil {
			err = client.SaveKey(keyPath, key, false)
		}
	}
	if err != nil {
		log.Fatal(err)
	}

	c, err := client.New(nodeURL, client.Options{})
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
	fmt.Println(st.Status, st.Transaction.Seq, string(st.Transaction.Payload))
	// Output: confirmed 0 {"celsius":21.5}
}

// A gateway follows what its devices' transactions become.
func ExampleClient_Subscribe() {
	nodeURL, _, stop := exampleNode()
	defer stop()
	c, err := client.New(nodeURL, client.Options{})
	if err != nil {
		log.Fatal(err)
	}
	key, err := client.GenerateKey()
	if err != nil {
		log.Fatal(err)
	}
	device := client.NewDevice(c, key)
	pub := device.PublicKey() // one of the gateway's devices

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// Subscribe returns once the stream is open: nothing after it is
	// missed.
	events, err := c.Subscribe(ctx, client.EventFilter{Issuer: &pub})
	if err != nil {
		log.Fatal(err)
	}
	defer events.Close()
	if _, err := device.Send(ctx, dag.KindData, []byte("door=open")); err != nil {
		log.Fatal(err)
	}
	for range 2 {
		ev, err := events.Next()
		if err != nil {
			log.Printf("stream ended: %v (retryable: %v)", err, client.IsRetryable(err))
			break
		}
		fmt.Println(ev.Kind, ev.Seq)
	}
	// Output:
	// attached 0
	// confirmed 0
}

// Errors from the node carry the contract's code.
func ExampleAPIError() {
	nodeURL, _, stop := exampleNode()
	defer stop()
	c, err := client.New(nodeURL, client.Options{})
	if err != nil {
		log.Fatal(err)
	}
	_, err = c.Transaction(context.Background(), dag.ID{1})
	var apiErr *client.APIError
	switch {
	case errors.Is(err, dag.ErrNotFound):
		fmt.Println("no such transaction")
	case errors.As(err, &apiErr):
		fmt.Println(apiErr.Status, apiErr.Code, apiErr.Message)
	case client.IsRetryable(err):
		fmt.Println("node unreachable, try again later")
	}
	// Output: no such transaction
}
