package bench

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/tangled-ledger/tangled/pow"
)

// LoadReport is what RunLoad measured.
type LoadReport struct {
	Summary LoadSummary
	// Series has one entry per second from the first send to the end of
	// the grace period, warmup included.
	Series []LoadSecond
	// latencies are the confirmed transactions' latencies after the
	// warmup, sorted, for the CDF.
	latencies []time.Duration
}

// LoadSummary is the report's one-object form (summary.json, --json).
// Counts and rates cover the measured window, the run's duration after
// the warmup, by each transaction's send start.
type LoadSummary struct {
	// Command is how the run was started, when the caller records it.
	Command          string    `json:"command,omitempty"`
	Mode             string    `json:"mode"`
	Nodes            int       `json:"nodes"`
	Devices          int       `json:"devices"`
	OfferedRate      float64   `json:"offered_tx_per_s"` // 0: as fast as possible
	DurationSeconds  float64   `json:"duration_s"`
	WarmupSeconds    float64   `json:"warmup_s"`
	GraceSeconds     float64   `json:"grace_s"`
	MeasuredSeconds  float64   `json:"measured_s"`
	PayloadBytes     int       `json:"payload_bytes"`
	Difficulty       pow.Rules `json:"difficulty"`
	BeaconIntervalMs float64   `json:"beacon_interval_ms"`    // 0: the node's default
	BeaconRule       string    `json:"beacon_rule,omitempty"` // empty: the node's default

	Sent     int `json:"sent"`
	Accepted int `json:"accepted"`
	Rejected int `json:"rejected"`
	// Aborted sends were cut off by the end of the run, without a verdict.
	Aborted int `json:"aborted"`
	// Missed are schedule slots skipped because the device was still busy
	// with its previous send: offered load that was never sent.
	Missed          int     `json:"missed_slots"`
	SentPerSec      float64 `json:"sent_tx_per_s"`
	AcceptedPerSec  float64 `json:"accepted_tx_per_s"`
	ConfirmedPerSec float64 `json:"confirmed_tx_per_s"`

	// Confirmed counts accepted transactions whose confirmed event the
	// posting node sent within the grace period; ConfirmedUnobserved were
	// found confirmed by a status lookup after it (confirmed late, or
	// their event lost to a stream reconnect; no latency); Unconfirmed
	// were neither.
	Confirmed           int `json:"confirmed"`
	ConfirmedUnobserved int `json:"confirmed_unobserved"`
	Unconfirmed         int `json:"unconfirmed"`

	// Latency is from a device starting a send (tips, sign, work, post)
	// to the posting node's confirmed event, in milliseconds.
	Latency Percentiles `json:"latency_ms"`
	// Send is from a device starting a send to the node's durable
	// acknowledgement, in milliseconds.
	Send Percentiles `json:"send_ms"`

	RejectedByCode map[string]int `json:"rejected_by_code"`
	// ResponsesByCode counts every error answer the devices got, the
	// retried ones (429 overloaded) included, over the whole run.
	ResponsesByCode  map[string]int `json:"responses_by_code"`
	StreamReconnects int            `json:"stream_reconnects"`

	// BeaconShare is the validator beacons' share of the ledger at the
	// end of the run, beacons over all transactions, as the first node
	// that answered counted them: the cost of coordinator-free
	// confirmation.
	BeaconShare float64 `json:"beacon_share"`

	PerNode []NodeLoad `json:"per_node"`
	// Processes are the measured processes: one per node with child
	// processes, plus the load generator; in-process, the one process.
	Processes []ProcessLoad `json:"processes"`
	// MachineBusyPercent is the whole machine's busy CPU while devices
	// sent, in percent of all its cores; OthersPercent is the part of it
	// that none of the measured processes used (other programs on a
	// shared machine). Both -1 where /proc/stat cannot tell.
	Cores              int     `json:"cores"`
	MachineBusyPercent float64 `json:"machine_busy_percent"`
	OthersPercent      float64 `json:"others_percent"`
	WallSeconds        float64 `json:"wall_s"`
}

// Percentiles of a latency distribution, in milliseconds.
type Percentiles struct {
	P50  float64 `json:"p50"`
	P95  float64 `json:"p95"`
	P99  float64 `json:"p99"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

// NodeLoad is one node's view at the end of the run.
type NodeLoad struct {
	Node         int    `json:"node"` // 1-based, as validator-N
	Posted       int    `json:"posted"`
	Transactions uint64 `json:"transactions"`
	// Beacons are the validator beacons among Transactions.
	Beacons        uint64 `json:"beacons"`
	Confirmed      uint64 `json:"confirmed"`
	PeersConnected int    `json:"peers_connected"`
	Error          string `json:"error,omitempty"`
	ExitError      string `json:"exit_error,omitempty"`
}

// ProcessLoad is one process's CPU and memory. CPU covers the sending
// period; memory is sampled every 500 ms from the first send to the end
// of the grace period.
type ProcessLoad struct {
	Name        string  `json:"name"`
	PID         int     `json:"pid"`
	CPUSeconds  float64 `json:"cpu_s"`
	CPUPercent  float64 `json:"cpu_percent"` // of one core
	PeakRSSMiB  float64 `json:"peak_rss_mib"`
	FinalRSSMiB float64 `json:"final_rss_mib"`
	PeakAnonMiB float64 `json:"peak_anon_mib"`
	FinalAnon   float64 `json:"final_anon_mib"`
}

// LoadSecond is one second of the run.
type LoadSecond struct {
	Second    int `json:"second"`
	Sent      int `json:"sent"`
	Accepted  int `json:"accepted"`
	Rejected  int `json:"rejected"`
	Confirmed int `json:"confirmed"` // confirmed events in this second
	// P50 and P99 are the latencies of the transactions confirmed in this
	// second, in milliseconds; NaN (empty in CSV) when none was.
	P50 float64 `json:"latency_p50_ms"`
	P99 float64 `json:"latency_p99_ms"`
}

// report turns a finished run into a LoadReport.
func (r *loadRun) report(wall time.Duration, exitErrs []string) *LoadReport {
	cfg := r.cfg
	s := LoadSummary{
		Nodes: cfg.Nodes, Devices: cfg.Devices, OfferedRate: cfg.Rate,
		DurationSeconds: cfg.Duration.Seconds(), WarmupSeconds: cfg.Warmup.Seconds(),
		GraceSeconds: cfg.Grace.Seconds(), MeasuredSeconds: (cfg.Duration - cfg.Warmup).Seconds(),
		PayloadBytes: cfg.PayloadBytes, Difficulty: cfg.Difficulty,
		BeaconIntervalMs: float64(cfg.BeaconInterval) / float64(time.Millisecond),
		BeaconRule:       cfg.BeaconRule,
		Mode:             r.cl.mode, RejectedByCode: map[string]int{},
		ResponsesByCode: r.counts.snapshot(), Missed: int(r.missed.Load()),
		WallSeconds: wall.Seconds(),
	}
	for _, w := range r.watch {
		s.StreamReconnects += int(w.reconnects.Load())
	}
	from, to := r.sendStart.Add(cfg.Warmup), r.sendStart.Add(cfg.Duration)
	rep := &LoadReport{}
	var sends []time.Duration
	posted := make([]int, cfg.Nodes)
	// Series: seconds from the first send to the last confirmation.
	second := func(t time.Time) int { return int(t.Sub(r.sendStart) / time.Second) }
	seriesLat := map[int][]time.Duration{}
	grow := func(i int) {
		for len(rep.Series) <= i {
			rep.Series = append(rep.Series, LoadSecond{Second: len(rep.Series)})
		}
	}
	for _, rec := range r.records {
		if rec.outcome == outcomeAborted {
			if !rec.start.Before(from) {
				s.Aborted++
			}
			continue
		}
		sec := second(rec.start)
		grow(sec)
		rep.Series[sec].Sent++
		accepted := rec.outcome == outcomeAccepted
		if accepted {
			rep.Series[sec].Accepted++
			posted[rec.node]++
		} else {
			rep.Series[sec].Rejected++
		}
		at, confirmed := time.Time{}, false
		if accepted {
			at, confirmed = r.watch[rec.node].confirmedAt(rec.id)
			if confirmed {
				c := second(at)
				grow(c)
				rep.Series[c].Confirmed++
				seriesLat[c] = append(seriesLat[c], at.Sub(rec.start))
				if !at.Before(from) && at.Before(to) {
					s.ConfirmedPerSec++
				}
			}
		}
		if rec.start.Before(from) {
			continue
		}
		s.Sent++
		if !accepted {
			s.Rejected++
			s.RejectedByCode[rec.outcome]++
			continue
		}
		s.Accepted++
		sends = append(sends, rec.took)
		switch {
		case confirmed:
			s.Confirmed++
			rep.latencies = append(rep.latencies, at.Sub(rec.start))
		case r.lateConfirmed[rec.id]:
			s.ConfirmedUnobserved++
		default:
			s.Unconfirmed++
		}
	}
	for i := range rep.Series {
		lat := seriesLat[i]
		slices.Sort(lat)
		rep.Series[i].P50, rep.Series[i].P99 = math.NaN(), math.NaN()
		if len(lat) > 0 {
			rep.Series[i].P50, rep.Series[i].P99 = ms(quantile(lat, 0.50)), ms(quantile(lat, 0.99))
		}
	}
	measured := s.MeasuredSeconds
	s.SentPerSec, s.AcceptedPerSec = float64(s.Sent)/measured, float64(s.Accepted)/measured
	s.ConfirmedPerSec /= measured
	slices.Sort(rep.latencies)
	slices.Sort(sends)
	s.Latency, s.Send = percentiles(rep.latencies), percentiles(sends)

	for i := range cfg.Nodes {
		nl := NodeLoad{Node: i + 1, Posted: posted[i]}
		if i < len(r.stats.info) {
			inf := r.stats.info[i]
			nl.Transactions, nl.Confirmed, nl.PeersConnected, nl.Error = inf.transactions, inf.confirmed, inf.peersConnected, inf.err
			nl.Beacons = inf.beacons
		}
		if i < len(exitErrs) {
			nl.ExitError = exitErrs[i]
		}
		s.PerNode = append(s.PerNode, nl)
		if s.BeaconShare == 0 && nl.Transactions > 0 {
			s.BeaconShare = float64(nl.Beacons) / float64(nl.Transactions)
		}
	}
	sendSeconds := r.sendEnd.Sub(r.sendStart).Seconds()
	proc := func(name string, pid int, cpu float64, idx int) ProcessLoad {
		p := ProcessLoad{Name: name, PID: pid, CPUSeconds: cpu, CPUPercent: 100 * cpu / sendSeconds}
		if r.mem != nil && idx < len(r.mem.pids) {
			peak, last := r.mem.result(idx)
			p.PeakRSSMiB, p.FinalRSSMiB = mib(peak.rss), mib(last.rss)
			p.PeakAnonMiB, p.FinalAnon = mib(peak.anon), mib(last.anon)
		}
		return p
	}
	loaderCPU := r.stats.loaderCPU1 - r.stats.loaderCPU0
	if r.cl.pids == nil {
		s.Processes = append(s.Processes, proc("all nodes + devices (one process)", r.mem.pids[0], loaderCPU, 0))
	} else {
		for i, pid := range r.cl.pids {
			cpu := -1.0
			if i < len(r.stats.cpuStart) && i < len(r.stats.cpuEnd) && r.stats.cpuStart[i] >= 0 && r.stats.cpuEnd[i] >= 0 {
				cpu = r.stats.cpuEnd[i] - r.stats.cpuStart[i]
			}
			s.Processes = append(s.Processes, proc(fmt.Sprintf("node %d", i+1), pid, cpu, i))
		}
		s.Processes = append(s.Processes, proc("load generator (devices)", r.mem.pids[len(r.mem.pids)-1], loaderCPU, len(r.mem.pids)-1))
	}
	s.Cores = runtime.NumCPU()
	s.MachineBusyPercent, s.OthersPercent = -1, -1
	st := r.stats
	if st.busy0 >= 0 && st.busy1 >= 0 && st.total1 > st.total0 {
		span := st.total1 - st.total0
		s.MachineBusyPercent = math.Round(1000*(st.busy1-st.busy0)/span) / 10
		ours := 0.0
		for _, p := range s.Processes {
			ours += max(0, p.CPUSeconds)
		}
		s.OthersPercent = math.Round(1000*max(0, st.busy1-st.busy0-ours)/span) / 10
	}
	rep.Summary = s
	return rep
}

func mib(kib int64) float64 {
	if kib < 0 {
		return -1
	}
	return math.Round(float64(kib)/1024*10) / 10
}

func ms(d time.Duration) float64 { return math.Round(float64(d)/float64(time.Millisecond)*100) / 100 }

// quantile of sorted values, by the nearest-rank rule.
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func percentiles(sorted []time.Duration) Percentiles {
	if len(sorted) == 0 {
		return Percentiles{}
	}
	var sum time.Duration
	for _, d := range sorted {
		sum += d
	}
	return Percentiles{
		P50: ms(quantile(sorted, 0.50)), P95: ms(quantile(sorted, 0.95)), P99: ms(quantile(sorted, 0.99)),
		Max: ms(sorted[len(sorted)-1]), Mean: ms(sum / time.Duration(len(sorted))),
	}
}

// WriteTable prints the summary for people.
func (rep *LoadReport) WriteTable(w io.Writer) error {
	s := &rep.Summary
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	offered := "as fast as possible"
	if s.OfferedRate > 0 {
		offered = fmt.Sprintf("%.0f tx/s", s.OfferedRate)
	}
	fmt.Fprintf(tw, "nodes\t%d (%s), %d devices, %d-byte readings, work %d bits\n", s.Nodes, s.Mode, s.Devices, s.PayloadBytes, s.Difficulty.Required(s.PayloadBytes, 0))
	fmt.Fprintf(tw, "window\t%.0f s measured (%.0f s run, first %.0f s warmup), %.0f s grace\n", s.MeasuredSeconds, s.DurationSeconds, s.WarmupSeconds, s.GraceSeconds)
	fmt.Fprintf(tw, "offered\t%s\n", offered)
	fmt.Fprintf(tw, "sent\t%.1f tx/s (%d; %d schedule slots missed)\n", s.SentPerSec, s.Sent, s.Missed)
	fmt.Fprintf(tw, "accepted\t%.1f tx/s (%d)\n", s.AcceptedPerSec, s.Accepted)
	fmt.Fprintf(tw, "confirmed\t%.1f tx/s; %d of %d accepted (%d of them seen only by a status lookup after the grace period), %d unconfirmed\n",
		s.ConfirmedPerSec, s.Confirmed+s.ConfirmedUnobserved, s.Accepted, s.ConfirmedUnobserved, s.Unconfirmed)
	fmt.Fprintf(tw, "latency ms\tp50 %.1f  p95 %.1f  p99 %.1f  max %.1f  mean %.1f\n", s.Latency.P50, s.Latency.P95, s.Latency.P99, s.Latency.Max, s.Latency.Mean)
	fmt.Fprintf(tw, "send ms\tp50 %.1f  p95 %.1f  p99 %.1f  max %.1f  (until the durable acknowledgement)\n", s.Send.P50, s.Send.P95, s.Send.P99, s.Send.Max)
	fmt.Fprintf(tw, "beacons\t%.1f%% of the ledger\n", 100*s.BeaconShare)
	fmt.Fprintf(tw, "rejected\t%d %s, %d aborted at the end\n", s.Rejected, codes(s.RejectedByCode), s.Aborted)
	fmt.Fprintf(tw, "error answers\t%s (retried ones included); %d event-stream reconnects\n", codes(s.ResponsesByCode), s.StreamReconnects)
	if s.MachineBusyPercent >= 0 {
		fmt.Fprintf(tw, "machine\t%d cores %.0f%% busy while sending, %.0f%% of it by other programs\n", s.Cores, s.MachineBusyPercent, s.OthersPercent)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "node\tposted\ttransactions\tbeacons\tconfirmed\tpeers\t")
	for _, n := range s.PerNode {
		note := ""
		if n.Error != "" || n.ExitError != "" {
			note = " " + n.Error + " " + n.ExitError
		}
		fmt.Fprintf(tw, "%d\t%d\t%d\t%d\t%d\t%d\t%s\n", n.Node, n.Posted, n.Transactions, n.Beacons, n.Confirmed, n.PeersConnected, note)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "process\tCPU s\tCPU % of a core\tpeak RSS MiB\tfinal RSS MiB\tpeak anon MiB\tfinal anon MiB\t")
	for _, p := range s.Processes {
		fmt.Fprintf(tw, "%s\t%.1f\t%.0f\t%.1f\t%.1f\t%.1f\t%.1f\t\n", p.Name, p.CPUSeconds, p.CPUPercent, p.PeakRSSMiB, p.FinalRSSMiB, p.PeakAnonMiB, p.FinalAnon)
	}
	return tw.Flush()
}

func codes(m map[string]int) string {
	if len(m) == 0 {
		return "(none)"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := "("
	for i, k := range keys {
		if i > 0 {
			out += ", "
		}
		out += fmt.Sprintf("%s: %d", k, m[k])
	}
	return out + ")"
}

// WriteFiles writes summary.json, load.csv and the plots into dir.
func (rep *LoadReport) WriteFiles(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	if err := writeFile(filepath.Join(dir, "summary.json"), func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rep.Summary)
	}); err != nil {
		return err
	}
	if err := writeFile(filepath.Join(dir, "load.csv"), rep.WriteCSV); err != nil {
		return err
	}
	return rep.WritePlots(dir)
}

// WriteCSV writes the per-second series.
func (rep *LoadReport) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"second", "sent", "accepted", "rejected", "confirmed", "latency_p50_ms", "latency_p99_ms"})
	num := func(v float64) string {
		if math.IsNaN(v) {
			return ""
		}
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
	for _, s := range rep.Series {
		_ = cw.Write([]string{strconv.Itoa(s.Second), strconv.Itoa(s.Sent), strconv.Itoa(s.Accepted),
			strconv.Itoa(s.Rejected), strconv.Itoa(s.Confirmed), num(s.P50), num(s.P99)})
	}
	cw.Flush()
	return cw.Error()
}

func writeFile(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	err = write(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("bench: writing %s: %w", path, err)
	}
	return nil
}
