// Package api is a node's HTTP API: devices fetch tips and the difficulty
// they must meet, post signed transactions (JSON or canonical binary, one
// or a batch), ask for a transaction's status and stream ledger events
// (server-sent events); in a network with authorities anyone reads the
// device registry (a device, its chain's transactions page by page, the
// authorities, the access policies). docs/api-contract.md is the contract; the server
// serves its OpenAPI 3.1 description at /v1/openapi.json.
//
// A Server is an http.Handler over a Backend (the node's ledger, ingest
// pipeline, tip selection and device registry). A Backend that also
// implements IssuerLimiter sets per-issuer rate limits from its devices'
// policies, and one that implements Worker solves the proof-of-work of a
// device's signed transaction (POST /v1/transactions?work=node); others
// keep the configured limits and refuse such work. It never owns a listener, so the caller
// chooses the address, TLS and the http.Server timeouts:
//
//	srv, err := api.New(backend, api.Config{})
//	if err != nil { ... }
//	hs := &http.Server{
//		Addr:              ":8080",
//		Handler:           srv,
//		ReadHeaderTimeout: 5 * time.Second,
//		ReadTimeout:       30 * time.Second,
//		WriteTimeout:      30 * time.Second, // event streams lift it for themselves
//		IdleTimeout:       2 * time.Minute,
//	}
//	hs.RegisterOnShutdown(srv.CloseStreams) // streams never end by themselves
//	go hs.ListenAndServe()
//
// Every rejection is a JSON {"code", "message"} with a documented status;
// 429s carry Retry-After. Bad input never changes the ledger: bodies are
// decoded and checked (size, media type, encoding) before anything is
// submitted, and what the ledger rejects it does not keep.
//
// Overload turns into 429s, never into unbounded memory: POST bodies have
// size limits, posts are rate limited per client and per issuer (token
// buckets in bounded maps), a post waits at most Config.SubmitTimeout for
// room in the ingest queue, event streams are bounded in number and in
// buffered events (a reader that falls behind is told "lagged" and
// closed), and the ledger's event callback never blocks on a client.
package api
