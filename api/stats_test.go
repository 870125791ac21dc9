package api

import (
	"bytes"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/dag/dagtest"
)

// TestRejectionsCounted: every error response and every rejected item of
// a batch is counted under its code, and accepted transactions are not.
func TestRejectionsCounted(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	if got := h.api.Rejections(); len(got) != 0 {
		t.Fatalf("a fresh server counts %v", got)
	}
	cases := rejections(t, h) // attaches two good transactions
	want := map[string]uint64{}
	for _, c := range cases {
		wantError(t, h.post("/v1/transactions", c.contentType, c.body), c.status, c.code)
		want[c.code]++
	}
	wantError(t, h.get("/v1/nope"), http.StatusNotFound, codeNotFound)
	want[codeNotFound]++
	wantError(t, h.do(http.MethodDelete, "/v1/info", "", nil), http.StatusMethodNotAllowed, codeMethodNotAllowed)
	want[codeMethodNotAllowed]++
	wantError(t, h.get("/v1/info?x=1"), http.StatusBadRequest, codeMalformed)
	want[codeMalformed]++

	root := h.ledger.Root()
	ok := dagtest.NewIssuer("batch", testRules).Issue(dag.KindData, root, root, at(time.Second), nil)
	impostor := dagtest.NewIssuer("impostor2", testRules).Issue(dag.KindBeacon, root, root, at(time.Second), nil)
	r := h.post("/v1/transactions/batch", mediaBinary, binaryBatch(ok.Bytes(), impostor.Bytes(), []byte("junk")))
	if r.status != http.StatusOK {
		t.Fatalf("batch: %d %s", r.status, r.body)
	}
	want["not_validator"]++
	want["malformed"]++

	if diff := cmp.Diff(want, h.api.Rejections()); diff != "" {
		t.Fatalf("rejections (-want +got):\n%s", diff)
	}
}

// TestOversizeBodyClosesConnection: the counting writer does not hide the
// connection from http.MaxBytesReader, which has the server close a
// connection whose body it stopped reading.
func TestOversizeBodyClosesConnection(t *testing.T) {
	h := newHarness(t, harnessConfig{})
	req, err := http.NewRequest(http.MethodPost, h.srv.URL+"/v1/transactions", chunked(make([]byte, DefaultMaxBodyBytes+1)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", mediaBinary)
	resp, err := h.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !resp.Close {
		t.Fatalf("status %d, close %v; want 413 and a closed connection", resp.StatusCode, resp.Close)
	}
}

// chunked hides b's length, so the client sends it without a
// Content-Length and only the reader's limit can stop it.
func chunked(b []byte) io.Reader { return struct{ io.Reader }{bytes.NewReader(b)} }
