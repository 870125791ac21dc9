package node_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tangled-ledger/tangled/api"
	"github.com/tangled-ledger/tangled/client"
	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/internal/poll"
	"github.com/tangled-ledger/tangled/node"
)

// The hostile-client regression tests of the API hardening review
// (docs/design/2026-12-02-api-hardening.md), through a real node on
// loopback: Badger in a temporary directory, the node's own http.Server
// and its limits. docs/reliability.md lists what they cover.

// startTestNode starts a one-validator node with cheap work.
func startTestNode(t *testing.T, cfg node.Config) *running {
	t.Helper()
	dir := t.TempDir()
	genesis, key := testNetwork(t, dir)
	cfg.DataDir, cfg.GenesisFile, cfg.KeyFile = dir, genesis, key
	return start(t, cfg)
}

// clientFrom returns an HTTP client whose connections come from the given
// loopback address, so that one test can play several clients (Linux
// routes all of 127.0.0.0/8 to the loopback interface).
func clientFrom(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 16}}
}

func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// TestDeclaredBodySizesCostNoMemory is hole 1: 300 connections that each
// declare an 8 MiB batch and send one byte, three rounds in a row, once
// took a node from 165 MB to 3.5 GB. Each connection is held until the
// handler is reading its body (the server's "100 Continue" says so), so
// the measurement sees every handler mid-read.
func TestDeclaredBodySizesCostNoMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 300 connections three times")
	}
	r := startTestNode(t, node.Config{})
	addr := r.n.HTTPAddr()
	const conns, rounds = 300, 3
	// The bound: 300 handlers each holding a 4 KiB chunk, the server's
	// per-connection buffers and goroutine stacks are a few MiB; a single
	// preallocated 8 MiB body would be 2.4 GiB.
	const bound = 48 << 20
	base := heapInUse()
	for round := range rounds {
		var open []net.Conn
		for range conns {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			open = append(open, c)
			fmt.Fprintf(c, "POST /v1/transactions/batch HTTP/1.1\r\nHost: %s\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n", addr, 8<<20)
		}
		for i, c := range open {
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
			line, err := bufio.NewReader(c).ReadString('\n')
			if err != nil || !strings.HasPrefix(line, "HTTP/1.1 100") {
				t.Fatalf("round %d connection %d: %q, %v; want 100 Continue", round, i, line, err)
			}
			if _, err := c.Write([]byte{0}); err != nil {
				t.Fatal(err)
			}
		}
		during := heapInUse()
		t.Logf("round %d: heap in use %d MiB before, %d MiB with %d connections mid-body", round, base>>20, during>>20, conns)
		if during > base+bound {
			t.Fatalf("round %d: heap grew by %d MiB with %d connections that sent one byte each; bound %d MiB",
				round, (during-base)>>20, conns, bound>>20)
		}
		for _, c := range open {
			c.Close()
		}
	}
	// The memory comes back once they are gone (the handlers see the
	// closed connections and return).
	var after uint64
	poll.Until(t, 10*time.Second, "the heap to return within 8 MiB of where it started after the connections closed", func() bool {
		after = heapInUse()
		return after <= base+8<<20
	})
	t.Logf("after closing: heap in use %d MiB", after>>20)
	// And the node still serves.
	if _, err := r.c.Info(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestDeviceNotLockedOutByForgedJunk is hole 2 through a real node: an
// attacker floods forged transactions naming a device's key (400 single
// posts and a batch of 4096, from its own address) while the device keeps
// posting; every one of the device's transactions is accepted.
func TestDeviceNotLockedOutByForgedJunk(t *testing.T) {
	r := startTestNode(t, node.Config{})
	base := "http://" + r.n.HTTPAddr()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	victimKey := newKey(t)
	victim := client.NewDevice(mustClient(t, base, clientFrom("127.0.0.2")), victimKey)
	var pk dag.PublicKey
	copy(pk[:], victimKey.Public().(ed25519.PublicKey))

	tips, err := r.c.Tips(ctx, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	forge := func(i int) []byte {
		tx := &dag.Transaction{Kind: dag.KindData, Trunk: tips.Trunk, Branch: tips.Branch, Issuer: pk,
			Time: time.Now().UnixNano(), Payload: []byte(fmt.Sprintf("forged %d", i))}
		binary.BigEndian.PutUint64(tx.Signature[:], uint64(i)+1)
		if err := r.c.Solve(ctx, tx, testRules.Required(len(tx.Payload), 0)); err != nil {
			t.Error(err)
		}
		return tx.Bytes()
	}
	var batch bytes.Buffer
	for i := range 4096 {
		raw := forge(i)
		batch.Write(binary.BigEndian.AppendUint32(nil, uint32(len(raw))))
		batch.Write(raw)
	}
	singles := make([][]byte, 400)
	for i := range singles {
		singles[i] = forge(5000 + i)
	}

	attacker := clientFrom("127.0.0.3")
	var wg sync.WaitGroup
	statuses := map[int]int{}    // written by the attacker goroutine, read after wg.Wait
	var attackTook time.Duration // the batch and the singles
	wg.Add(1)
	go func() {
		defer wg.Done()
		post := func(path string, body []byte) {
			resp, err := attacker.Post(base+path, "application/octet-stream", bytes.NewReader(body))
			if err != nil {
				t.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			statuses[resp.StatusCode]++
		}
		start := time.Now()
		post("/v1/transactions/batch", batch.Bytes())
		for _, raw := range singles {
			post("/v1/transactions", raw)
		}
		attackTook = time.Since(start)
	}()
	var sent []dag.ID
	for i := range 5 {
		id, err := victim.Send(ctx, dag.KindData, []byte(fmt.Sprintf("reading %d", i)))
		if err != nil {
			t.Fatalf("device's reading %d during the flood: %v", i, err)
		}
		sent = append(sent, id)
	}
	wg.Wait()
	for _, id := range sent {
		if _, err := r.c.WaitConfirmed(ctx, id); err != nil {
			t.Fatalf("device's reading %s: %v", id.Short(), err)
		}
	}
	t.Logf("attacker's answers by status: %v (in %v)", statuses, attackTook.Round(time.Millisecond))
	// The batch spent the junk budget (charged as of the batch request's
	// start); after it, the singles the node verifies (422) are what the
	// budget refills from then on, so the bound follows the elapsed time
	// rather than assuming the posts are fast (on a loaded machine, and
	// under the race detector, they are not).
	verified := int(api.DefaultJunkRate*attackTook.Seconds()) + 40
	if statuses[http.StatusUnprocessableEntity] > verified || statuses[http.StatusTooManyRequests] == 0 {
		t.Fatalf("the attacker's junk was not refused by its own junk budget: %d verified, the budget allows about %d", statuses[http.StatusUnprocessableEntity], verified)
	}
}

func mustClient(t *testing.T, base string, hc *http.Client) *client.Client {
	t.Helper()
	c, err := client.New(base, client.Options{HTTPClient: hc})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// rawExchange sends request bytes on a fresh connection and returns the
// status line and the response's Content-Type.
func rawExchange(t *testing.T, addr, request string) (status int, contentType string, body string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, request); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("reading the answer to %.40q: %v", request, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(data)
}

// TestProtocolErrorsAsDocumented: what reaches the handler is answered in
// the contract's JSON; what net/http answers before the handler (listed as
// text/plain in the contract and the OpenAPI document) has the documented
// status.
func TestProtocolErrorsAsDocumented(t *testing.T) {
	r := startTestNode(t, node.Config{})
	addr := r.n.HTTPAddr()
	host := "Host: " + addr + "\r\n"
	ids := make([]string, 513)
	for i := range ids {
		ids[i] = "id=" + (dag.ID{byte(i), byte(i >> 8), 7}).String()
	}
	cases := []struct {
		name    string
		request string
		status  int
		json    string // the code, when the answer is the contract's JSON
	}{
		{"non-canonical path", "GET //v1//info HTTP/1.1\r\n" + host + "\r\n", 404, "not_found"},
		{"dot-dot path", "GET /v1/../v1/info HTTP/1.1\r\n" + host + "\r\n", 404, "not_found"},
		{"unparsable query", "GET /v1/tips?issuer=%zz HTTP/1.1\r\n" + host + "\r\n", 400, "malformed"},
		{"513 event ids", "GET /v1/events?" + strings.Join(ids, "&") + " HTTP/1.1\r\n" + host + "\r\n", 400, "malformed"},
		{"gzip content encoding", "POST /v1/transactions HTTP/1.1\r\n" + host + "Content-Type: application/json\r\nContent-Encoding: gzip\r\nContent-Length: 2\r\n\r\n{}", 415, "unsupported_media_type"},
		{"headers over 64 KiB", "GET /v1/info HTTP/1.1\r\n" + host + "X-Big: " + strings.Repeat("a", 80<<10) + "\r\n\r\n", 431, ""},
		{"gzip transfer encoding", "POST /v1/transactions HTTP/1.1\r\n" + host + "Transfer-Encoding: gzip\r\n\r\n", 501, ""},
		{"malformed header", "GET /v1/info HTTP/1.1\r\n" + host + "no colon here\r\n\r\n", 400, ""},
		{"missing Host", "GET /v1/info HTTP/1.1\r\n\r\n", 400, ""},
		{"HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 400, "malformed"},
		{"unknown Expect", "POST /v1/transactions HTTP/1.1\r\n" + host + "Expect: teapot\r\nContent-Length: 2\r\n\r\n{}", 417, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, ct, body := rawExchange(t, addr, c.request)
			if status != c.status {
				t.Fatalf("status %d (%s %q), want %d", status, ct, body, c.status)
			}
			if c.json == "" {
				return
			}
			var e struct{ Code, Message string }
			if ct != "application/json" || json.Unmarshal([]byte(body), &e) != nil || e.Code != c.json || e.Message == "" {
				t.Fatalf("answer %s %q, want the contract's JSON with code %q", ct, body, c.json)
			}
		})
	}
	t.Run("512 event ids fit", func(t *testing.T) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		fmt.Fprintf(c, "GET /v1/events?%s HTTP/1.1\r\n%s\r\n", strings.Join(ids[:512], "&"), host)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		// The stream stays open; closing the connection ends it.
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
			t.Fatalf("512 ids: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	})
}

// TestJSONTimeOutOfRange is hole 3 through a real node: a transaction
// signed with a 2015 time and posted as JSON with "2600-01-01T00:00:00Z"
// (whose nanoseconds used to wrap around) is malformed, and the message
// names the field and the range.
func TestJSONTimeOutOfRange(t *testing.T) {
	r := startTestNode(t, node.Config{})
	ctx := context.Background()
	tips, err := r.c.Tips(ctx, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	tx := &dag.Transaction{Kind: dag.KindData, Trunk: tips.Trunk, Branch: tips.Branch,
		Time: time.Date(2015, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()}
	tx.Sign(newKey(t))
	js, _ := json.Marshal(tx)
	for _, bad := range []string{"2600-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "1969-12-31T23:59:59Z"} {
		in := strings.Replace(string(js), dag.FormatTime(tx.Time), bad, 1)
		resp, err := http.Post("http://"+r.n.HTTPAddr()+"/v1/transactions", "application/json", strings.NewReader(in))
		if err != nil {
			t.Fatal(err)
		}
		var e struct{ Code, Message string }
		_ = json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		if resp.StatusCode != 400 || e.Code != "malformed" || !strings.Contains(e.Message, "time") ||
			!strings.Contains(e.Message, "1970-01-01T00:00:00Z") || !strings.Contains(e.Message, "2262-04-11T23:47:16.854775807Z") {
			t.Fatalf("%s: %d %+v; want 400 malformed naming the field and the range", bad, resp.StatusCode, e)
		}
	}
}
