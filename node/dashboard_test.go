package node_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tangled-ledger/tangled/api"
	"github.com/tangled-ledger/tangled/client"
	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/dag/dagtest"
	"github.com/tangled-ledger/tangled/node"
)

// requireBrowserEnv, when set (.ci/run sets it), turns a missing browser
// from a skip into a failure: CI must run the dashboard's browser test.
const requireBrowserEnv = "TANGLED_REQUIRE_BROWSER"

// screenshotEnv names a file (or "1" for docs/dashboard.png) that
// TestDashboardBrowser writes a screenshot of the page to.
const screenshotEnv = "TANGLED_DASHBOARD_SCREENSHOT"

// findBrowser is Debian's chromium (or TANGLED_CHROMIUM); without one the
// test is skipped, unless requireBrowserEnv is set.
func findBrowser(tb testing.TB) string {
	tb.Helper()
	if p := os.Getenv("TANGLED_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "no chromium binary on PATH (apt-get install chromium, or set TANGLED_CHROMIUM): the dashboard's browser test needs one"
	if os.Getenv(requireBrowserEnv) != "" {
		tb.Fatal(msg + "; " + requireBrowserEnv + " is set, so this is a failure")
	}
	tb.Skip(msg)
	return ""
}

// newBrowser starts a headless browser for the test and returns its
// context; everything the test does in it is bounded by within.
func newBrowser(tb testing.TB, within time.Duration) context.Context {
	tb.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(findBrowser(tb)),
		chromedp.WindowSize(1440, 1000),
		// Frames must keep coming in a page nobody looks at.
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
	)
	if os.Geteuid() == 0 {
		// Chromium refuses to start its sandbox as root (CI containers).
		opts = append(opts, chromedp.NoSandbox)
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	ctx, cancelTime := context.WithTimeout(ctx, within)
	tb.Cleanup(func() {
		cancelTime()
		cancelTab()
		cancelAlloc()
	})
	if err := chromedp.Do(ctx); err != nil {
		tb.Fatalf("starting the browser: %v", err)
	}
	return ctx
}

// waitJS waits until the page's expression is truthy, checked by the
// browser at each animation frame, and returns its value.
func waitJS[T any](tb testing.TB, ctx context.Context, what, expr string) T {
	tb.Helper()
	v, err := chromedp.Run(ctx, chromedp.Poll[T](expr, chromedp.WithPollingTimeout(30*time.Second)))
	if err != nil {
		tb.Fatalf("waiting for %s (%s): %v", what, expr, err)
	}
	return v
}

// drawnNode is one entry of window.tangledDashboard.state().nodes.
type drawnNode struct {
	ID     string  `json:"id"`
	Status string  `json:"status"`
	Kind   string  `json:"kind"`
	Colour string  `json:"colour"`
	X      float64 `json:"x"`
	Y      float64 `json:"y"`
}

// drawnAs is the expression giving the drawn node with this ID once it
// is drawn with status (null before).
func drawnAs(id dag.ID, status string) string {
	return fmt.Sprintf(`(() => { const n = window.tangledDashboard && window.tangledDashboard.state().nodes.find((n) => n.id === %q); return n && n.status === %q && n.colour ? n : null; })()`, id.String(), status)
}

// The dashboard's colours, as dashboard.js draws them.
const (
	pendingColour     = "#f2b134"
	confirmedColour   = "#3bb273"
	conflictingColour = "#e15554"
)

// TestDashboardBrowser opens the dashboard of a real node in headless
// chromium, posts real signed transactions and checks that they are
// drawn in the DAG view, pending, and that one turns to the confirmed
// colour once it is confirmed; the two halves of an equivocation are
// drawn conflicting; a click on a transaction shows its details.
//
// The network has two validators and the node holds one, so nothing
// confirms until the test posts the second validator's beacon: every
// transaction is seen pending first, whatever the timing.
func TestDashboardBrowser(t *testing.T) {
	ctx := newBrowser(t, 3*time.Minute)
	dir := t.TempDir()
	g, err := node.NewGenesis(dir, node.GenesisOptions{NetworkID: "dashboard", Validators: 2, Difficulty: &testRules})
	if err != nil {
		t.Fatal(err)
	}
	r := start(t, node.Config{
		DataDir: dir, GenesisFile: filepath.Join(dir, node.GenesisFile), KeyFile: filepath.Join(dir, node.ValidatorKeyFile(1)),
		BeaconInterval: 100 * time.Millisecond,
		API:            feedAPIConfig,
	})
	page := "http://" + r.n.HTTPAddr() + "/"
	if err := chromedp.Do(ctx, chromedp.Navigate(page)); err != nil {
		t.Fatal(err)
	}
	waitJS[any](t, ctx, "the event stream", `window.tangledDashboard && window.tangledDashboard.state().stream === 'live'`)
	waitJS[any](t, ctx, "the identity", `document.getElementById('network').textContent === 'dashboard'`)

	dev := client.NewDevice(r.c, dagtest.Key("dashboard-device"))
	var ids []dag.ID
	for i := range 5 {
		id, err := dev.Send(t.Context(), dag.KindData, fmt.Appendf(nil, "temperature=%d", 20+i))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	for _, id := range ids {
		n := waitJS[drawnNode](t, ctx, "transaction "+id.Short()+" drawn pending", drawnAs(id, "pending"))
		if n.Colour != pendingColour || n.Kind != "data" {
			t.Fatalf("%s drawn as %+v, want data in %s", id.Short(), n, pendingColour)
		}
	}

	// The second validator's beacon approves the last one; the node's own
	// beacon approves it too, so its weight passes 2/3.
	last := ids[len(ids)-1]
	v2, err := client.LoadKey(filepath.Join(dir, node.ValidatorKeyFile(2)))
	if err != nil {
		t.Fatal(err)
	}
	validator2 := client.NewDevice(r.c, v2)
	beacon, err := validator2.SendWithTrunk(t.Context(), dag.KindBeacon, nil, last)
	if err != nil {
		t.Fatal(err)
	}
	n := waitJS[drawnNode](t, ctx, "transaction "+last.Short()+" drawn confirmed", drawnAs(last, "confirmed"))
	if n.Colour != confirmedColour {
		t.Fatalf("confirmed %s drawn in %s, want %s", last.Short(), n.Colour, confirmedColour)
	}
	st, err := r.c.Transaction(t.Context(), last)
	if err != nil || st.Status != "confirmed" {
		t.Fatalf("the node says %s is %v (%v), the page drew it confirmed", last.Short(), st, err)
	}
	waitJS[any](t, ctx, "the beacon drawn", fmt.Sprintf(`window.tangledDashboard.state().nodes.some((n) => n.id === %q && n.kind === 'beacon')`, beacon))

	// A cloned key: two readings with one sequence number are both drawn
	// conflicting.
	root := r.n.Ledger().Root()
	now := time.Now().UnixNano()
	var twins []dag.ID
	for _, payload := range []string{"original", "clone"} {
		twin := dagtest.NewIssuer("dashboard-cloned", testRules).Issue(dag.KindData, root, root, now, []byte(payload))
		if _, err := r.c.Post(t.Context(), twin); err != nil {
			t.Fatal(err)
		}
		twins = append(twins, twin.ID())
	}
	for _, id := range twins {
		n := waitJS[drawnNode](t, ctx, "twin "+id.Short()+" drawn conflicting", drawnAs(id, "conflicting"))
		if n.Colour != conflictingColour {
			t.Fatalf("conflicting %s drawn in %s, want %s", id.Short(), n.Colour, conflictingColour)
		}
	}

	// A click on the confirmed transaction shows its details from
	// GET /v1/transactions/{id}. Nodes drift left as time passes, so the
	// view is paused first (as an operator would, with the pause button)
	// and the click goes where the frozen picture has it.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById('pause').click(), window.tangledDashboard.state().paused`)); err != nil {
		t.Fatal(err)
	}
	expr := fmt.Sprintf(`(() => { const r = document.getElementById('dag').getBoundingClientRect(); const n = window.tangledDashboard.state().nodes.find((n) => n.id === %q); return {X: r.left + n.x, Y: r.top + n.y}; })()`, last)
	at, err := chromedp.Run(ctx, chromedp.Evaluate[struct{ X, Y float64 }](expr))
	if err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.MouseClickXY(at.X, at.Y)); err != nil {
		t.Fatal(err)
	}
	shown := waitJS[string](t, ctx, "the details of "+last.Short(),
		fmt.Sprintf(`(() => { const dd = document.querySelectorAll('#details dd'); return dd.length > 1 && dd[0].textContent === %q && dd[1].textContent; })()`, last))
	if shown != "confirmed" {
		t.Errorf("details show status %q, want confirmed", shown)
	}

	if path := screenshotPath(t); path != "" {
		screenshot(t, ctx, r, g, validator2, path)
	}
}

// TestDashboardDevices: on a permissioned network with an authority,
// devices seen on the event stream are listed with their state, and an
// authority's suspension shows up in the table.
func TestDashboardDevices(t *testing.T) {
	ctx := newBrowser(t, 2*time.Minute)
	dir := t.TempDir()
	fleet := dagtest.Key("dashboard-fleet")
	genesis, key := authorityNetwork(t, dir, publicKey(fleet))
	r := start(t, node.Config{DataDir: dir, GenesisFile: genesis, KeyFile: key, BeaconInterval: 100 * time.Millisecond})
	if err := chromedp.Do(ctx, chromedp.Navigate("http://"+r.n.HTTPAddr()+"/")); err != nil {
		t.Fatal(err)
	}
	waitJS[any](t, ctx, "the event stream", `window.tangledDashboard && window.tangledDashboard.state().stream === 'live'`)

	auth := client.NewAuthority(r.c, fleet)
	var ids []dag.ID
	for i := range 2 {
		devKey := dagtest.Key(fmt.Sprintf("dashboard-sensor-%d", i))
		id, err := auth.Register(t.Context(), client.Registration{Key: publicKey(devKey), Class: "sensor"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.c.WaitConfirmed(t.Context(), id); err != nil {
			t.Fatal(err)
		}
		if _, err := client.NewDevice(r.c, devKey).Send(t.Context(), dag.KindData, []byte("21.5C")); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if _, err := auth.Suspend(t.Context(), ids[1]); err != nil {
		t.Fatal(err)
	}
	row := func(id dag.ID, state string) string {
		return fmt.Sprintf(`document.querySelector('#devices tr[data-device=%q][data-state=%q]') !== null`, id, state)
	}
	waitJS[any](t, ctx, "device "+ids[0].Short()+" listed active", row(ids[0], "active"))
	waitJS[any](t, ctx, "device "+ids[1].Short()+" listed suspended", row(ids[1], "suspended"))
	note := waitJS[string](t, ctx, "the authority's count", `document.getElementById('devices-note').textContent`)
	if !strings.Contains(note, "fleet 2") || !strings.Contains(note, "permissioned") {
		t.Errorf("devices note %q, want the fleet's 2 devices on a permissioned network", note)
	}
}

// screenshotPath is where screenshotEnv asks for the screenshot, or "".
func screenshotPath(tb testing.TB) string {
	v := os.Getenv(screenshotEnv)
	switch v {
	case "":
		return ""
	case "1", "true":
		return filepath.Join("..", "docs", "dashboard.png")
	}
	if !filepath.IsAbs(v) {
		tb.Fatalf("%s=%q: give 1 (docs/dashboard.png) or an absolute path", screenshotEnv, v)
	}
	return v
}

// screenshot feeds the node a few seconds of readings while the second
// validator beacons, lets the charts fill and saves the page as a PNG.
func screenshot(t *testing.T, ctx context.Context, r *running, g *dag.Genesis, validator2 *client.Device, path string) {
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.tangledDashboard.setPaused(false), true`)); err != nil {
		t.Fatal(err)
	}
	f := newFeed(t, g, 200, 12*time.Second, 7)
	fed := make(chan error, 1)
	go func() { fed <- f.run(t.Context(), r.c) }()
	beaconed := make(chan error, 1)
	go func() {
		// The second validator's beacons, from its own chain (the client
		// continues it), ten a second while the feed runs.
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for range 10 * 12 {
			<-tick.C
			if _, err := validator2.Send(t.Context(), dag.KindBeacon, nil); err != nil {
				beaconed <- err
				return
			}
		}
		beaconed <- nil
	}()
	waitJS[any](t, ctx, "ten seconds of charts", `window.tangledDashboard.state().chartPoints >= 10`)
	waitJS[any](t, ctx, "a confirmed transaction selected",
		`(() => { const n = window.tangledDashboard.state().nodes.filter((n) => n.status === 'confirmed' && n.kind === 'data').at(-60); if (!n) return null; window.tangledDashboard.select(n.id); return n.id; })()`)
	waitJS[any](t, ctx, "its details", `document.querySelectorAll('#details dd').length > 3`)
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", path, len(png))
	for _, ch := range []chan error{fed, beaconed} {
		if err := <-ch; err != nil {
			t.Fatal(err)
		}
	}
}

// feed is a pre-signed stream of readings posted to a node at a fixed rate in batches, so the node sees
// real, valid traffic at that rate while the browser watches.
type feed struct {
	batches [][]*dag.Transaction
	every   time.Duration
	// warm is closed once the first warmBatches batches have gone out.
	warm        chan struct{}
	warmBatches int
	mu          sync.Mutex
	posted      int
	errs        []string
}

// feedBatchesPerSecond is how often the feed posts: 20 batches a second,
// so 2,000 tx/s go in batches of 100.
const feedBatchesPerSecond = 20

// feedVisibility is how many transactions later a fed transaction
// becomes a tip the feed's devices may approve: at 2,000 tx/s, 25 ms,
// about the time a real device's tips request lags the node.
const feedVisibility = 50

// newFeed signs rate×d readings of 128 devices over g's network, issued
// rate a second from the genesis time on. NewGenesis wrote the genesis a
// moment before, so issuing times trail the wall clock a little and the
// per-issuer rate rule sees the rate the node sees. Each reading approves
// two tips of the feed's own (uniform random selection over what is
// visible, as the node's /v1/tips would give), so nothing is left behind
// and every reading gets confirmed once the node's beacons approve the
// newest ones.
func newFeed(tb testing.TB, g *dag.Genesis, rate int, d time.Duration, seed uint64) *feed {
	tb.Helper()
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	devices := make([]*dagtest.Issuer, 128)
	for i := range devices {
		devices[i] = dagtest.NewIssuer(fmt.Sprintf("feed-%d-%d", seed, i), g.Difficulty)
	}
	tips := []dag.ID{g.ID()}
	var hidden []dag.ID // issued, not yet visible
	take := func() dag.ID {
		if len(tips) == 1 {
			return tips[0]
		}
		i := rng.IntN(len(tips))
		id := tips[i]
		tips[i] = tips[len(tips)-1]
		tips = tips[:len(tips)-1]
		return id
	}
	step := time.Second / time.Duration(rate)
	at := g.Time
	per := rate / feedBatchesPerSecond
	f := &feed{every: time.Second / feedBatchesPerSecond, warm: make(chan struct{})}
	for range feedBatchesPerSecond * int(d/time.Second) {
		batch := make([]*dag.Transaction, 0, per)
		for range per {
			at = at.Add(step)
			payload := make([]byte, 48) // the transaction keeps it
			for i := range payload {
				payload[i] = byte(rng.Uint32())
			}
			trunk, branch := take(), take()
			tx := devices[rng.IntN(len(devices))].Issue(dag.KindData, trunk, branch, at.UnixNano(), payload)
			batch = append(batch, tx)
			if hidden = append(hidden, tx.ID()); len(hidden) > feedVisibility {
				tips = append(tips, hidden[0])
				hidden = hidden[1:]
			}
		}
		f.batches = append(f.batches, batch)
	}
	return f
}

// run posts one batch per tick; a batch the node refuses in part is
// recorded, not retried.
func (f *feed) run(ctx context.Context, c *client.Client) error {
	tick := time.NewTicker(f.every)
	defer tick.Stop()
	var wg sync.WaitGroup
	for i, batch := range f.batches {
		if i == f.warmBatches {
			close(f.warm)
		}
		select {
		case <-ctx.Done():
			wg.Wait()
			return ctx.Err()
		case <-tick.C:
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := c.PostBatch(ctx, batch)
			f.mu.Lock()
			defer f.mu.Unlock()
			if err != nil {
				f.errs = append(f.errs, err.Error())
				return
			}
			for _, r := range res {
				if r.Code != "" {
					f.errs = append(f.errs, r.Code)
					continue
				}
				f.posted++
			}
		}()
	}
	wg.Wait()
	if f.warmBatches >= len(f.batches) {
		close(f.warm)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.errs) > 0 {
		return fmt.Errorf("feed: %d of %d refused, first: %s", len(f.errs), f.posted+len(f.errs), strings.Join(f.errs[:min(3, len(f.errs))], "; "))
	}
	return nil
}

// feedAPIConfig lifts the per-client and per-issuer limits: the feed is
// one client posting for 128 devices at full rate.
var feedAPIConfig = api.Config{ClientRate: -1, JunkRate: -1, IssuerRate: -1}
