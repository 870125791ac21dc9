package node

import (
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/evidence"
	"github.com/tangled-ledger/tangled/network"
)

// MetricsPath is where the node serves its Prometheus metrics, on the API's
// listener. docs/metrics.md lists every series.
const MetricsPath = "/metrics"

// metrics is the node's Prometheus registry. The packages below the node
// keep plain counters (dag.Ledger.Stats, dag.Pipeline.Stats,
// api.Server.Rejections, storage.Badger.GCStats, network peers' traffic);
// the collector reads them when Prometheus scrapes, so nothing on the
// ingest path knows Prometheus. Only confirmation latency is observed as
// it happens, because no counter below holds it.
type metrics struct {
	registry *prometheus.Registry
	latency  *latencyRecorder
}

func newMetrics(n *Node) *metrics {
	m := &metrics{registry: prometheus.NewRegistry(), latency: newLatencyRecorder()}
	m.registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&nodeCollector{n: n},
		m.latency.histogram,
	)
	return m
}

// handler serves the exposition format. Errors of a collector are
// reported in the response, never by a panic.
func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// publicHandler is what the API listener serves: GET (and HEAD)
// /metrics, and the API (with the dashboard at /) for everything else.
// /metrics is matched exactly, so it shadows no API path and none shadows
// it. No ServeMux in front: it would answer paths that are not in
// canonical form ("/v1/./info") and an HTTP/2 preface itself, before the
// API's own JSON errors for them.
func (n *Node) publicHandler() http.Handler {
	metrics := n.metrics.handler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == MetricsPath && (r.Method == http.MethodGet || r.Method == http.MethodHead) && r.ProtoMajor == 1 {
			metrics.ServeHTTP(w, r)
			return
		}
		n.api.ServeHTTP(w, r)
	})
}

// latencyBuckets span a beacon interval (0.1 s) to a stalled minute.
var latencyBuckets = []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}

// latencyRing is how many of the latest attached transactions keep their
// attach time: one that confirms more than this many arrivals later is
// not measured (at 2,000 tx/s that is half a minute).
const latencyRing = 1 << 16

// latencyRecorder measures confirmation latency on this node, from
// attach to confirmation, with a fixed ring indexed by arrival number
// instead of a map, so its memory is bounded and its cost per event is a
// few nanoseconds on the committing goroutine.
type latencyRecorder struct {
	histogram prometheus.Histogram
	start     time.Time // monotonic base of the stored times
	mu        sync.Mutex
	// ring is guarded by mu.
	ring [latencyRing]struct{ arrival, at uint64 }
}

func newLatencyRecorder() *latencyRecorder {
	return &latencyRecorder{
		start: time.Now(),
		histogram: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "tangled_confirmation_latency_seconds",
			Help:    "Time from a transaction's attach to its confirmation on this node.",
			Buckets: latencyBuckets,
		}),
	}
}

// observe is a ledger event callback.
func (r *latencyRecorder) observe(e dag.Event) {
	a := e.Info.Arrival
	if a == 0 {
		return
	}
	switch e.Kind {
	case dag.EventAttached:
		now := uint64(time.Since(r.start))
		r.mu.Lock()
		slot := &r.ring[a%latencyRing]
		slot.arrival, slot.at = a, now
		r.mu.Unlock()
	case dag.EventConfirmed:
		now := uint64(time.Since(r.start))
		r.mu.Lock()
		slot := r.ring[a%latencyRing]
		r.mu.Unlock()
		if slot.arrival == a && now >= slot.at {
			r.histogram.Observe(time.Duration(now - slot.at).Seconds())
		}
	}
}

// nodeCollector turns the node's counters into metrics at scrape time.
type nodeCollector struct{ n *Node }

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

var (
	descBuild = desc("tangled_build_info", "Always 1; the labels name the software version, the network and whether the node is a validator.", "version", "network", "validator")

	descLedgerTransactions = desc("tangled_ledger_transactions", "Transactions attached to the ledger (not counting the genesis root).")
	descLedgerConfirmed    = desc("tangled_ledger_confirmed", "Confirmed transactions.")
	descLedgerParked       = desc("tangled_ledger_parked", "Transactions parked waiting for missing parents or predecessors.")
	descLedgerConflicting  = desc("tangled_ledger_conflicting", "Transactions marked conflicting (equivocations).")
	descLedgerIssuers      = desc("tangled_ledger_issuers", "Distinct issuers seen.")
	descLedgerBeacons      = desc("tangled_ledger_beacons", "Validator beacons attached.")
	descLedgerUnconfirmed  = desc("tangled_ledger_unconfirmed_data", "Attached transactions other than beacons that are not confirmed yet.")
	descLedgerTips         = desc("tangled_ledger_tips", "Transactions nothing approves yet.")
	descTipPool            = desc("tangled_tip_pool_size", "Tips in the URTS selection pool, by class.", "class")

	descIngest     = desc("tangled_ingest_transactions_total", "Transactions answered by the ingest pipeline (API and peers), by result.", "result")
	descIngestCode = desc("tangled_ingest_rejections_total", "Transactions the ingest pipeline rejected, by error code.", "code")
	descAPIReject  = desc("tangled_api_rejections_total", "Rejections the HTTP API returned (error responses and rejected batch items), by error code.", "code")
	descPoW        = desc("tangled_pow_checks_total", "Proof-of-work checks at intake.")
	descPoWFail    = desc("tangled_pow_failures_total", "Proof-of-work checks that failed at intake.")
	descSig        = desc("tangled_signature_checks_total", "Signatures verified (in batches).")
	descSigFail    = desc("tangled_signature_failures_total", "Signatures that did not verify.")
	descStageTime  = desc("tangled_pipeline_stage_seconds_total", "Time the pipeline's stages spent, by stage (verify: summed over workers; attach; commit: waiting until durable).", "stage")
	descStageBatch = desc("tangled_pipeline_stage_batches_total", "Batches the pipeline's stages handled, by stage.", "stage")
	descQueue      = desc("tangled_queue_length", "Items waiting in a queue, by queue.", "queue")
	descQueueCap   = desc("tangled_queue_capacity", "Capacity of a queue, by queue.", "queue")

	descWork     = desc("tangled_node_work_total", "Proof-of-work requests on devices' behalf (POST /v1/transactions?work=node), by result.", "result")
	descWorkTime = desc("tangled_node_work_seconds_total", "Time the node's solver spent on devices' work.")

	descStoreSize  = desc("tangled_store_size_bytes", "Badger's on-disk size by part (lsm, vlog), as Badger last measured it (about once a minute).", "part")
	descGCRuns     = desc("tangled_store_vlog_gc_runs_total", "Value-log garbage collections run.")
	descGCRewrites = desc("tangled_store_vlog_gc_rewrites_total", "Value-log files rewritten by garbage collection.")
	descGCErrors   = desc("tangled_store_vlog_gc_errors_total", "Value-log garbage collections that failed.")

	descPeers       = desc("tangled_peers", "Known peers by state.", "state")
	descGossipTx    = desc("tangled_gossip_transactions_total", "Transactions exchanged with peers (gossip, responses and sync), by direction.", "direction")
	descGossipDup   = desc("tangled_gossip_duplicates_total", "Received transactions this node already had.")
	descGossipBad   = desc("tangled_gossip_invalid_total", "Received transactions that failed validation.")
	descGossipDrop  = desc("tangled_gossip_dropped_total", "Gossip not sent because a peer's queue was full.")
	descGossipReq   = desc("tangled_gossip_requests_total", "Transaction IDs requested, by direction (in: peers asked this node).", "direction")
	descGossipBytes = desc("tangled_gossip_bytes_total", "Bytes exchanged with peers, by direction.", "direction")
	descSyncActive  = desc("tangled_sync_active", "1 while a bulk sync from a peer runs.")
	descSyncTx      = desc("tangled_sync_received_transactions_total", "Transactions received by bulk sync (catching up after a restart, a partition or a late join).")

	descPruneRuns     = desc("tangled_prune_runs_total", "Prune loop checks that pruned: past the retention (prune-after) or over the disk budget.")
	descPrunedTx      = desc("tangled_prune_transactions_total", "Confirmed transactions pruned from the store.")
	descPruneReclaims = desc("tangled_prune_reclaims_total", "Value-log reclaims forced after pruning over the disk budget.")
	descPruneErrors   = desc("tangled_prune_errors_total", "Prune loop checks that failed (measuring the directory, pruning or reclaiming).")
	descPruneDisk     = desc("tangled_prune_disk_bytes", "The database directory's allocated size at the prune loop's last check; 0 on a node that does not prune.")
	descPruneBudget   = desc("tangled_prune_disk_budget_bytes", "The configured disk budget (disk-budget); 0 for none.")
	descPruneFrontier = desc("tangled_prune_frontier", "Prunable transactions kept only because a kept transaction still references them, at the last pruning.")
	descCompactLeaves = desc("tangled_prune_audit_compacted_leaves_total", "Audit log leaves whose index and proof-only Merkle nodes compaction dropped after their transactions were pruned.")
	descCompactClaims = desc("tangled_prune_audit_compacted_claims_total", "Old checkpoint claims (cosignatures below the final checkpoint and the compacted blocks) compaction dropped.")
	descCompactKept   = desc("tangled_prune_audit_compacted_kept", "Leaves of the audit log's compacted blocks still indexed because the ledger keeps their transactions, at the last compaction.")

	descLogSize        = desc("tangled_log_size", "Transactions in the audit log.")
	descLogFinal       = desc("tangled_log_final_size", "Size of the newest checkpoint of the audit log cosigned over the threshold.")
	descLogCheckpoints = desc("tangled_log_checkpoints_closed_total", "Checkpoints of the audit log this node closed (and, as a validator, cosigned).")
	descLogMisbehave   = desc("tangled_log_misbehaviour_total", "Evidence found against validators' checkpoint signatures, by kind.", "kind")
)

var allDescs = []*prometheus.Desc{
	descBuild,
	descLedgerTransactions, descLedgerConfirmed, descLedgerParked, descLedgerConflicting, descLedgerIssuers,
	descLedgerBeacons, descLedgerUnconfirmed, descLedgerTips, descTipPool,
	descIngest, descIngestCode, descAPIReject, descPoW, descPoWFail, descSig, descSigFail,
	descStageTime, descStageBatch, descQueue, descQueueCap,
	descWork, descWorkTime,
	descStoreSize, descGCRuns, descGCRewrites, descGCErrors,
	descPeers, descGossipTx, descGossipDup, descGossipBad, descGossipDrop, descGossipReq, descGossipBytes,
	descSyncActive, descSyncTx,
	descPruneRuns, descPrunedTx, descPruneReclaims, descPruneErrors, descPruneDisk, descPruneBudget, descPruneFrontier,
	descCompactLeaves, descCompactClaims, descCompactKept,
	descLogSize, descLogFinal, descLogCheckpoints, descLogMisbehave,
}

// Describe implements prometheus.Collector.
func (c *nodeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range allDescs {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *nodeCollector) Collect(ch chan<- prometheus.Metric) {
	n := c.n
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	validator := "false"
	if n.validator {
		validator = "true"
	}
	gauge(descBuild, 1, Version, n.genesis.NetworkID, validator)

	ls := n.ledger.Stats()
	gauge(descLedgerTransactions, float64(ls.Transactions))
	gauge(descLedgerConfirmed, float64(ls.Confirmed))
	gauge(descLedgerParked, float64(ls.Parked))
	gauge(descLedgerConflicting, float64(ls.Conflicting))
	gauge(descLedgerIssuers, float64(ls.Issuers))
	gauge(descLedgerBeacons, float64(ls.Beacons))
	gauge(descLedgerUnconfirmed, float64(ls.UnconfirmedData))
	gauge(descLedgerTips, float64(ls.Tips))
	nonLazy, semiLazy := n.urts.Len()
	gauge(descTipPool, float64(nonLazy), "non_lazy")
	gauge(descTipPool, float64(semiLazy), "semi_lazy")

	ps := n.pipeline.Stats()
	counter(descIngest, float64(ps.Attached), "attached")
	counter(descIngest, float64(ps.Duplicate), "duplicate")
	counter(descIngest, float64(ps.Parked), "parked")
	counter(descIngest, float64(ps.Rejected), "rejected")
	for code, v := range ps.RejectedByCode {
		counter(descIngestCode, float64(v), code)
	}
	for code, v := range n.api.Rejections() {
		counter(descAPIReject, float64(v), code)
	}
	counter(descPoW, float64(ps.WorkChecked))
	counter(descPoWFail, float64(ps.WorkFailed))
	counter(descSig, float64(ps.SignaturesChecked))
	counter(descSigFail, float64(ps.SignaturesFailed))
	for _, st := range []struct {
		name    string
		time    time.Duration
		batches uint64
	}{
		{"verify", ps.VerifyTime, ps.VerifyBatches},
		{"attach", ps.AttachTime, ps.AttachBatches},
		{"commit", ps.CommitTime, ps.CommitBatches},
	} {
		counter(descStageTime, st.time.Seconds(), st.name)
		counter(descStageBatch, float64(st.batches), st.name)
	}
	for _, q := range []struct {
		name      string
		len, capa int
	}{
		{"verify", ps.VerifyQueue, ps.VerifyQueueCap},
		{"attach", ps.AttachQueue, ps.AttachQueueCap},
		{"ack", ps.AckQueue, ps.AckQueueCap},
	} {
		gauge(descQueue, float64(q.len), q.name)
		gauge(descQueueCap, float64(q.capa), q.name)
	}

	ws := n.work.WorkStats()
	counter(descWork, float64(ws.Solved), "solved")
	counter(descWork, float64(ws.Refused), "refused")
	counter(descWork, float64(ws.Limited), "rate_limited")
	counter(descWorkTime, ws.SolveTime.Seconds())

	lsm, vlog := n.store.DiskUsage()
	gauge(descStoreSize, float64(lsm), "lsm")
	gauge(descStoreSize, float64(vlog), "vlog")
	gc := n.store.GCStats()
	counter(descGCRuns, float64(gc.Runs))
	counter(descGCRewrites, float64(gc.Rewrites))
	counter(descGCErrors, float64(gc.Errors))

	// A node remembers every peer key it met (the network never forgets
	// one), so sums over Peers only grow.
	states := map[network.PeerState]int{
		network.StateConnected: 0, network.StateConnecting: 0, network.StateDisconnected: 0, network.StateBanned: 0,
	}
	var t network.Traffic
	if n.net != nil {
		for _, p := range n.net.Peers() {
			states[p.State]++
			pt := p.Traffic
			t.TxIn += pt.TxIn
			t.TxOut += pt.TxOut
			t.Duplicates += pt.Duplicates
			t.Invalid += pt.Invalid
			t.Dropped += pt.Dropped
			t.RequestsIn += pt.RequestsIn
			t.RequestsOut += pt.RequestsOut
			t.BytesIn += pt.BytesIn
			t.BytesOut += pt.BytesOut
		}
	}
	for state, count := range states {
		gauge(descPeers, float64(count), string(state))
	}
	counter(descGossipTx, float64(t.TxIn), "in")
	counter(descGossipTx, float64(t.TxOut), "out")
	counter(descGossipDup, float64(t.Duplicates))
	counter(descGossipBad, float64(t.Invalid))
	counter(descGossipDrop, float64(t.Dropped))
	counter(descGossipReq, float64(t.RequestsIn), "in")
	counter(descGossipReq, float64(t.RequestsOut), "out")
	counter(descGossipBytes, float64(t.BytesIn), "in")
	counter(descGossipBytes, float64(t.BytesOut), "out")
	var active bool
	var synced uint64
	if n.net != nil {
		active, synced = n.net.Syncing()
	}
	gauge(descSyncActive, boolFloat(active))
	counter(descSyncTx, float64(synced))

	pr := n.PruneStats()
	counter(descPruneRuns, float64(pr.Runs))
	counter(descPrunedTx, float64(pr.Pruned))
	counter(descPruneReclaims, float64(pr.Reclaims))
	counter(descPruneErrors, float64(pr.Errors))
	gauge(descPruneDisk, float64(pr.DiskSize))
	gauge(descPruneBudget, float64(n.cfg.DiskBudget))
	gauge(descPruneFrontier, float64(pr.Frontier))
	counter(descCompactLeaves, float64(pr.CompactedLeaves))
	counter(descCompactClaims, float64(pr.CompactedClaims))
	gauge(descCompactKept, float64(pr.CompactedKept))

	gauge(descLogSize, float64(n.audit.log.Size()))
	final, _, _ := n.audit.log.Latest()
	gauge(descLogFinal, float64(final.Size))
	counter(descLogCheckpoints, float64(n.audit.closed.Load()))
	for _, k := range []string{evidence.TwoRoots, evidence.WrongRoot, evidence.BadSignature} {
		counter(descLogMisbehave, float64(n.audit.misbehaviourCount(k)), k)
	}
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// setupMetrics builds the registry and starts measuring confirmation
// latency; New calls it once the API exists.
func (n *Node) setupMetrics() {
	n.metrics = newMetrics(n)
	n.ledger.Subscribe(n.metrics.latency.observe)
}
