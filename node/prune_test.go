package node_test

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/tangled-ledger/tangled/api"
	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/node"
	"github.com/tangled-ledger/tangled/storage"
)

// pruneConfig is a single validator with a 24 MiB disk budget that checks
// it every 100 ms, keeps about 160 confirmed transactions in memory and
// uses 1 MiB memtables (Badger preallocates two memtable logs of twice
// that; the default 16 MiB ones alone would take 64 MiB).
func pruneConfig(m *member, genesis string) node.Config {
	return node.Config{
		DataDir: m.dataDir, GenesisFile: genesis, KeyFile: m.keyFile,
		API:           api.Config{ClientRate: -1, IssuerRate: -1},
		LedgerMemory:  64 << 10,
		DiskBudget:    24 << 20,
		PruneInterval: 100 * time.Millisecond,
		Storage:       storage.Options{MemTableSize: 1 << 20},
	}
}

// TestPruneKeepsDiskUnderBudget posts 32,000 transactions (and the
// validator's beacons and checkpoints) to a real node with a 24 MiB disk
// budget and checks, after every round, that the database directory
// stays under the budget, and at the end that the ledger's keyspaces hold
// a few MiB of the tens written to them (the audit log's keyspace is
// never pruned and grows by about 160 bytes a logged transaction: see
// docs/design/2026-12-03-pruning.md); then that a pruned transaction reads
// as not found, and that the node restarts from its pruned store with
// every chain intact and goes on confirming.
func TestPruneKeepsDiskUnderBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("posts 120,000 transactions")
	}
	c := newCluster(t, 1)
	m := c.members[0]
	cfg := pruneConfig(m, c.genesis)
	m.r = start(t, cfg)
	gen := c.generator()
	var all []*dag.Transaction
	var peak int64
	const rounds, perRound = 8, 4000
	for round := range rounds {
		txs := gen.Take(perRound)
		all = append(all, txs...)
		c.post(txs, 500, func(int) *member { return m })
		c.waitConfirmed([]*member{m}, txs[len(txs)-50:], 30*time.Second)
		st := m.r.n.PruneStats()
		if round >= rounds/3 {
			peak = max(peak, st.DiskSize)
		}
		if testing.Verbose() && round%5 == 4 {
			ents, _ := os.ReadDir(filepath.Join(m.dataDir, "db"))
			var list []string
			for _, e := range ents {
				info, _ := e.Info()
				list = append(list, fmt.Sprintf("%s:%dK", e.Name(), info.Size()>>10))
			}
			t.Logf("round %d: %+v %v", round, st, list)
		}
	}
	st := m.r.n.PruneStats()
	t.Logf("%d transactions, %+v, peak %.1f MiB after warm-up", len(all), st, float64(peak)/(1<<20))
	if st.Pruned < uint64(len(all))/2 {
		t.Fatalf("pruned %d of %d", st.Pruned, len(all))
	}
	if peak > cfg.DiskBudget {
		t.Errorf("database reached %d bytes, budget %d", peak, cfg.DiskBudget)
	}

	// A pruned transaction: not found, over the API as well.
	var old dag.ID
	for _, tx := range all[:len(all)/2] {
		if _, ok := m.r.n.Ledger().Info(tx.ID()); !ok {
			old = tx.ID()
			break
		}
	}
	if old.IsZero() {
		t.Fatal("nothing in the first half was pruned")
	}
	resp, err := http.Get(fmt.Sprintf("http://%s/v1/transactions/%s", m.r.n.HTTPAddr(), old))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET a pruned transaction: %d, want 404", resp.StatusCode)
	}

	heads := map[dag.PublicKey]dag.IssuerState{}
	for _, tx := range all {
		heads[tx.Issuer], _ = m.r.n.Ledger().IssuerState(tx.Issuer, 0)
	}
	if err := m.r.stop(); err != nil {
		t.Fatal(err)
	}
	db, err := badger.Open(badger.DefaultOptions(filepath.Join(m.dataDir, "db")).WithLoggingLevel(badger.ERROR))
	if err != nil {
		t.Fatal(err)
	}
	var ledgerBytes, auditBytes int64
	err = db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			size := int64(len(it.Item().Key())) + it.Item().ValueSize()
			switch it.Item().Key()[0] {
			case 'e':
				auditBytes += size
			case 'n', 'p', 'a', 'o':
				ledgerBytes += size
			}
		}
		return nil
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("live data: ledger %.1f MiB, audit log %.1f MiB", float64(ledgerBytes)/(1<<20), float64(auditBytes)/(1<<20))
	if ledgerBytes > 4<<20 {
		t.Errorf("the ledger's keyspaces hold %d bytes after pruning", ledgerBytes)
	}
	m.r = start(t, cfg)
	for key, want := range heads {
		if got, _ := m.r.n.Ledger().IssuerState(key, 0); got != want {
			t.Errorf("after restart, issuer %s: %+v, want %+v", key, got, want)
		}
	}
	more := gen.Take(2000)
	c.post(more, 500, func(int) *member { return m })
	c.waitConfirmed([]*member{m}, more, 30*time.Second)
}
