package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/tangled-ledger/tangled/api"
	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/dag/dagtest"
	"github.com/tangled-ledger/tangled/pow"
	"github.com/tangled-ledger/tangled/storage"
)

// node is the smallest Backend: a ledger, its ingest pipeline, and the
// newest tip as both parents.
type node struct {
	ledger   *dag.Ledger
	pipeline *dag.Pipeline
}

func (n *node) Submit(ctx context.Context, txs []*dag.Transaction, admit dag.Admit) []dag.Result {
	return n.pipeline.SubmitAdmitted(ctx, txs, admit)
}

func (n *node) SelectTips(context.Context) (dag.ID, dag.ID, error) {
	tips := n.ledger.Tips(nil)
	return tips[0], tips[len(tips)-1], nil
}

func (n *node) SelectTipsFor(ctx context.Context, _ dag.PublicKey) (dag.ID, dag.ID, error) {
	return n.SelectTips(ctx)
}

func (n *node) Ledger() api.Ledger     { return n.ledger }
func (n *node) Identity() api.Identity { return api.Identity{Version: "example"} }

// Devices is nil: the example's network has no authorities.
func (n *node) Devices() api.Devices { return nil }

// A device asks the API for parents and difficulty, posts a reading in the
// canonical binary encoding, and asks for its status. The API is mounted
// next to the node's other handlers.
func Example() {
	network := dagtest.NewNetwork(1, pow.Rules{BaseBits: 4})
	clock := func() time.Time { return dagtest.GenesisTime.Add(time.Hour) }
	ledger, err := dag.Open(dag.Config{Genesis: network.Genesis, Store: storage.NewMemory(), Now: clock})
	if err != nil {
		panic(err)
	}
	pipeline, err := dag.NewPipeline(ledger, dag.PipelineConfig{})
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go pipeline.Run(ctx)

	srv, err := api.New(&node{ledger, pipeline}, api.Config{Clock: clock})
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/", srv)
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "# metrics") })
	hs := httptest.NewServer(mux)
	defer hs.Close()
	defer srv.CloseStreams()

	var tips struct {
		Trunk, Branch dag.ID
		Difficulty    int
	}
	resp, err := http.Get(hs.URL + "/v1/tips")
	if err != nil {
		panic(err)
	}
	json.NewDecoder(resp.Body).Decode(&tips)
	resp.Body.Close()

	device := dagtest.NewIssuer("thermometer", network.Genesis.Difficulty)
	reading := device.Issue(dag.KindData, tips.Trunk, tips.Branch, dagtest.GenesisTime.Add(time.Second).UnixNano(), []byte("21.5C"))
	resp, err = http.Post(hs.URL+"/v1/transactions", "application/octet-stream", bytes.NewReader(reading.Bytes()))
	if err != nil {
		panic(err)
	}
	var result struct{ ID, Status string }
	json.NewDecoder(resp.Body).Decode(&result)
	resp.Body.Close()
	fmt.Println(resp.StatusCode, result.Status, result.ID == reading.ID().String())

	resp, err = http.Get(hs.URL + "/v1/transactions/" + result.ID)
	if err != nil {
		panic(err)
	}
	var status struct{ Status string }
	json.NewDecoder(resp.Body).Decode(&status)
	resp.Body.Close()
	fmt.Println(tips.Difficulty, status.Status)
	// Output:
	// 202 attached true
	// 4 pending
}
