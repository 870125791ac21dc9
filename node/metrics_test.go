package node_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/node"
	"github.com/tangled-ledger/tangled/pow"
)

// documentedSeries reads docs/metrics.md's tables: series name, type and
// label names.
func documentedSeries(t *testing.T) map[string]documented {
	t.Helper()
	f, err := os.Open("../docs/metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	row := regexp.MustCompile("^\\| `([a-z_]+)` \\| (gauge|counter|histogram|summary) \\| ([^|]*)\\|")
	label := regexp.MustCompile("`([a-z_]+)`")
	out := map[string]documented{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		m := row.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		d := documented{kind: strings.ToUpper(m[2]), labels: []string{}}
		for _, l := range label.FindAllStringSubmatch(m[3], -1) {
			d.labels = append(d.labels, l[1])
		}
		slices.Sort(d.labels)
		out[m[1]] = d
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(out) < 30 {
		t.Fatalf("docs/metrics.md lists %d series; the table did not parse", len(out))
	}
	return out
}

type documented struct {
	kind   string
	labels []string
}

// scrape fetches and parses a node's /metrics.
func scrape(t *testing.T, base string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	return families
}

// TestMetricsDocumented: a real two-node network with real traffic
// (confirmed transactions, rejections at the API and in the pipeline,
// gossip) serves every series docs/metrics.md lists, with the documented
// type and labels, and no tangled_ series the document does not list.
func TestMetricsDocumented(t *testing.T) {
	c := newCluster(t, 2)
	c.startAll()
	a, b := c.members[0], c.members[1]
	txs := c.generator().Take(200)
	c.post(txs, 50, func(int) *member { return a })
	c.waitConfirmed(c.members, txs, 30*time.Second)

	// A transaction without enough work (rejected in the pipeline) and a
	// body that is no transaction (rejected by the API itself).
	// A fresh transaction with a valid signature whose nonce misses the
	// work (the nonce is outside what the signature covers).
	lazy := *c.generator().Take(1)[0]
	for pow.Verify(lazy.ID(), lazy.Nonce, clusterRules.Required(len(lazy.Payload), 0)) {
		lazy.Nonce++
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := a.r.c.Post(ctx, &lazy); dag.Code(err) != "insufficient_work" && !strings.Contains(err.Error(), "insufficient_work") {
		t.Fatalf("posting a lazy transaction: %v, want insufficient_work", err)
	}
	resp, err := http.Post("http://"+a.r.n.HTTPAddr()+"/v1/transactions", "application/octet-stream", bytes.NewReader([]byte("junk")))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	docs := documentedSeries(t)
	families := scrape(t, "http://"+a.r.n.HTTPAddr())
	for name, d := range docs {
		f, ok := families[name]
		if !ok {
			t.Errorf("%s is documented but not served", name)
			continue
		}
		if got := f.GetType().String(); got != d.kind {
			t.Errorf("%s is a %s, documented as a %s", name, got, d.kind)
		}
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName())
			}
			slices.Sort(labels)
			if labels == nil {
				labels = []string{}
			}
			if diff := cmp.Diff(d.labels, labels); diff != "" {
				t.Errorf("%s labels (-documented +served):\n%s", name, diff)
				break
			}
		}
	}
	for name := range families {
		if _, ok := docs[name]; strings.HasPrefix(name, "tangled_") && !ok {
			t.Errorf("%s is served but not in docs/metrics.md", name)
		}
	}

	// The traffic shows: values, not only names.
	value := func(name string, labels ...string) float64 {
		t.Helper()
		for _, m := range families[name].GetMetric() {
			match := true
			for i := 0; i+1 < len(labels); i += 2 {
				if !slices.ContainsFunc(m.GetLabel(), func(l *dto.LabelPair) bool {
					return l.GetName() == labels[i] && l.GetValue() == labels[i+1]
				}) {
					match = false
				}
			}
			if match {
				switch {
				case m.Counter != nil:
					return m.Counter.GetValue()
				case m.Gauge != nil:
					return m.Gauge.GetValue()
				case m.Histogram != nil:
					return float64(m.Histogram.GetSampleCount())
				}
			}
		}
		t.Fatalf("no %s%v", name, labels)
		return 0
	}
	checks := []struct {
		name   string
		labels []string
		min    float64
	}{
		{"tangled_ingest_transactions_total", []string{"result", "attached"}, 200},
		{"tangled_ingest_rejections_total", []string{"code", "insufficient_work"}, 1},
		{"tangled_api_rejections_total", []string{"code", "insufficient_work"}, 1},
		{"tangled_api_rejections_total", []string{"code", "malformed"}, 1},
		{"tangled_ledger_confirmed", nil, 200},
		{"tangled_confirmation_latency_seconds", nil, 200},
		{"tangled_signature_checks_total", nil, 200},
		{"tangled_peers", []string{"state", "connected"}, 1},
		{"tangled_gossip_transactions_total", []string{"direction", "out"}, 200},
		{"tangled_queue_capacity", []string{"queue", "verify"}, float64(dag.DefaultQueueLength)},
	}
	for _, c := range checks {
		if got := value(c.name, c.labels...); got < c.min {
			t.Errorf("%s%v = %v, want at least %v", c.name, c.labels, got, c.min)
		}
	}
	// b learnt a's transactions by gossip.
	if got := value2(t, scrape(t, "http://"+b.r.n.HTTPAddr()), "tangled_gossip_transactions_total", "direction", "in"); got < 200 {
		t.Errorf("b received %v transactions from peers, want at least 200", got)
	}
}

func value2(t *testing.T, families map[string]*dto.MetricFamily, name, label, want string) float64 {
	t.Helper()
	for _, m := range families[name].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == label && l.GetValue() == want {
				return m.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("no %s{%s=%q}", name, label, want)
	return 0
}

// TestMetricsPathDoesNotShadowTheAPI: /metrics is matched exactly; its
// neighbours and other methods stay the API's JSON answers.
func TestMetricsPathDoesNotShadowTheAPI(t *testing.T) {
	r := start(t, node.Config{DataDir: t.TempDir()})
	base := "http://" + r.n.HTTPAddr()
	cases := []struct {
		method, path string
		status       int
		contentType  string
	}{
		{http.MethodGet, "/metrics", 200, "text/plain"},
		{http.MethodHead, "/metrics", 200, "text/plain"},
		{http.MethodPost, "/metrics", 404, "application/json"},
		{http.MethodGet, "/metrics/", 404, "application/json"},
		{http.MethodGet, "/v1/info", 200, "application/json"},
		{http.MethodGet, "/healthz", 200, "application/json"},
		// Nothing in front of the API answers these first (a ServeMux
		// would redirect them).
		{http.MethodGet, "/v1/./info", 404, "application/json"},
		{http.MethodGet, "/metrics/../v1/info", 404, "application/json"},
	}
	for _, c := range cases {
		req, err := http.NewRequest(c.method, base+c.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.status || !strings.HasPrefix(resp.Header.Get("Content-Type"), c.contentType) {
			t.Errorf("%s %s: %d %s, want %d %s", c.method, c.path, resp.StatusCode, resp.Header.Get("Content-Type"), c.status, c.contentType)
		}
	}
}

// TestGrafanaDashboard: docs/grafana-dashboard.json queries only
// documented series, and every documented tangled_ series has a panel.
func TestGrafanaDashboard(t *testing.T) {
	data, err := os.ReadFile("../docs/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatal(err)
	}
	docs := documentedSeries(t)
	series := regexp.MustCompile(`\b(?:tangled|go|process)_[a-z_]+\b`)
	used := map[string]bool{}
	for _, p := range dash.Panels {
		for _, target := range p.Targets {
			for _, name := range series.FindAllString(target.Expr, -1) {
				base := name
				for _, suffix := range []string{"_bucket", "_sum", "_count"} {
					if trimmed, ok := strings.CutSuffix(name, suffix); ok && (docs[trimmed].kind == "HISTOGRAM" || docs[trimmed].kind == "SUMMARY") {
						base = trimmed
					}
				}
				if _, ok := docs[base]; !ok {
					t.Errorf("panel %q queries %s, which docs/metrics.md does not list", p.Title, name)
				}
				used[base] = true
			}
		}
	}
	for name := range docs {
		if strings.HasPrefix(name, "tangled_") && !used[name] {
			t.Errorf("%s has no panel in the Grafana dashboard", name)
		}
	}
}
