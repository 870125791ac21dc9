package dagtest

import (
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"time"

	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/pow"
)

// GenesisTime is the fixed start of every test network, so streams are
// reproducible byte for byte.
var GenesisTime = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// Key derives a deterministic Ed25519 key from a label.
func Key(label string) ed25519.PrivateKey {
	var seed [ed25519.SeedSize]byte
	copy(seed[:], label)
	binary.BigEndian.PutUint64(seed[24:], uint64(len(label)))
	return ed25519.NewKeyFromSeed(seed[:])
}

// PublicKey returns key's public half as a dag.PublicKey.
func PublicKey(key ed25519.PrivateKey) dag.PublicKey {
	var pk dag.PublicKey
	copy(pk[:], key.Public().(ed25519.PublicKey))
	return pk
}

// Network is a genesis and the keys of its validators.
type Network struct {
	Genesis    *dag.Genesis
	Validators []ed25519.PrivateKey
}

// NewNetwork makes a network of n equal-weight validators with the given
// difficulty rules.
func NewNetwork(n int, rules pow.Rules) *Network {
	net := &Network{Genesis: &dag.Genesis{
		NetworkID:  fmt.Sprintf("dagtest-%d", n),
		Time:       GenesisTime,
		Difficulty: rules,
	}}
	for i := range n {
		key := Key(fmt.Sprintf("validator-%d", i))
		net.Validators = append(net.Validators, key)
		net.Genesis.Validators = append(net.Genesis.Validators,
			dag.Validator{Name: fmt.Sprintf("v%d", i), PublicKey: PublicKey(key), Weight: 1})
	}
	return net
}

// Issuer signs an issuer's chain of transactions.
type Issuer struct {
	Key  ed25519.PrivateKey
	Seq  uint64
	Prev dag.ID
	// Rules gives the work each transaction needs; its rate part is
	// computed from the issuer's own recent issuing times.
	Rules pow.Rules
	// Unsigned skips the Ed25519 signature (it stays zero). Such
	// transactions are only for AttachVerified, which trusts its caller
	// to have checked signatures: benchmarks use them to build a large
	// DAG quickly where signatures are not what is measured.
	Unsigned bool
	recent   []int64
}

// NewIssuer returns an issuer with a key derived from label.
func NewIssuer(label string, rules pow.Rules) *Issuer {
	return &Issuer{Key: Key(label), Rules: rules}
}

// Build returns the issuer's next transaction, signed but without work,
// and advances the chain.
func (is *Issuer) Build(kind dag.Kind, trunk, branch dag.ID, at int64, payload []byte) *dag.Transaction {
	tx := &dag.Transaction{Kind: kind, Trunk: trunk, Branch: branch, Seq: is.Seq, Prev: is.Prev, Time: at, Payload: payload}
	if is.Unsigned {
		tx.Issuer = PublicKey(is.Key)
	} else {
		tx.Sign(is.Key)
	}
	is.Seq++
	is.Prev = tx.ID()
	return tx
}

// Rotate builds the issuer's rotation to newKey (committing to nextHash
// when it is not nil) and switches the chain to the new key.
func (is *Issuer) Rotate(newKey ed25519.PrivateKey, nextHash *[32]byte, trunk, branch dag.ID, at int64) *dag.Transaction {
	tx := is.Issue(dag.KindRotate, trunk, branch, at, dag.RotatePayload(PublicKey(newKey), nextHash))
	is.Key = newKey
	return tx
}

// Bits returns the difficulty the issuer's next transaction at time at
// with a payload of n bytes needs.
func (is *Issuer) Bits(at int64, n int) int {
	since := at - int64(is.Rules.RateWindow)
	kept := is.recent[:0]
	for _, t := range is.recent {
		if t > since {
			kept = append(kept, t)
		}
	}
	is.recent = kept
	return is.Rules.Required(n, len(kept))
}

// Issue builds, signs and solves the issuer's next transaction.
func (is *Issuer) Issue(kind dag.Kind, trunk, branch dag.ID, at int64, payload []byte) *dag.Transaction {
	bits := is.Bits(at, len(payload))
	if kind.Spec().RateExempt {
		bits = is.Rules.Required(len(payload), 0) // beacons and control kinds skip the rate rule
	}
	tx := is.Build(kind, trunk, branch, at, payload)
	nonce, err := pow.Solve(context.Background(), tx.ID(), bits, 1)
	if err != nil {
		panic(fmt.Sprintf("dagtest: solve: %v", err))
	}
	tx.Nonce = nonce
	is.recent = append(is.recent, at)
	return tx
}

// GeneratorConfig shapes a generated stream. Zero values mean defaults.
type GeneratorConfig struct {
	Seed uint64
	// Devices issuing data transactions (default 64).
	Devices int
	// BeaconEvery: after this many data transactions each validator issues
	// a beacon (default 50; negative disables beacons).
	BeaconEvery int
	// Window: parents are chosen among the last Window transactions
	// (default 32).
	Window int
	// Lag hides the newest Lag transactions from parent choice, like the
	// visibility delay of a real network where an issuer sees the tips a
	// node had a moment ago. Streams fed by many concurrent submitters use
	// it so that parents are mostly attached before their children arrive.
	Lag int
	// PayloadSize of data transactions (default 64).
	PayloadSize int
	// Step is the issuing-time gap between transactions (default 1ms).
	Step time.Duration
}

// SetUnsigned switches signing off (or back on) for the rest of the
// stream; see Issuer.Unsigned.
func (g *Generator) SetUnsigned(unsigned bool) {
	for _, is := range g.devices {
		is.Unsigned = unsigned
	}
	for _, is := range g.beacons {
		is.Unsigned = unsigned
	}
}

// Generator produces a valid stream: transaction i approves two of the
// transactions issued shortly before it, so feeding the stream in order
// attaches every transaction without parking.
type Generator struct {
	net     *Network
	cfg     GeneratorConfig
	rng     *rand.Rand
	devices []*Issuer
	beacons []*Issuer
	recent  []dag.ID
	now     int64
	count   int
}

// NewGenerator returns a generator over net.
func NewGenerator(net *Network, cfg GeneratorConfig) *Generator {
	if cfg.Devices == 0 {
		cfg.Devices = 64
	}
	if cfg.BeaconEvery == 0 {
		cfg.BeaconEvery = 50
	}
	if cfg.Window == 0 {
		cfg.Window = 32
	}
	if cfg.PayloadSize == 0 {
		cfg.PayloadSize = 64
	}
	if cfg.Step == 0 {
		cfg.Step = time.Millisecond
	}
	g := &Generator{
		net: net, cfg: cfg,
		rng:    rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
		recent: []dag.ID{net.Genesis.ID()},
		now:    net.Genesis.Time.UnixNano(),
	}
	rules := net.Genesis.Difficulty
	for i := range cfg.Devices {
		g.devices = append(g.devices, NewIssuer(fmt.Sprintf("device-%d-%d", cfg.Seed, i), rules))
	}
	for _, key := range net.Validators {
		g.beacons = append(g.beacons, &Issuer{Key: key, Rules: rules})
	}
	return g
}

func (g *Generator) parents() (dag.ID, dag.ID) {
	hi := max(len(g.recent)-g.cfg.Lag, 1)
	lo := max(hi-g.cfg.Window, 0)
	pick := func() dag.ID { return g.recent[lo+g.rng.IntN(hi-lo)] }
	return pick(), pick()
}

func (g *Generator) emit(is *Issuer, kind dag.Kind, payload []byte) *dag.Transaction {
	g.now += int64(g.cfg.Step)
	trunk, branch := g.parents()
	tx := is.Issue(kind, trunk, branch, g.now, payload)
	g.recent = append(g.recent, tx.ID())
	if keep := g.cfg.Window + g.cfg.Lag; len(g.recent) > 4*keep {
		g.recent = append(g.recent[:0], g.recent[len(g.recent)-keep:]...)
	}
	return tx
}

// Next returns the next transactions of the stream: one data transaction,
// followed by a beacon from every validator when one is due.
func (g *Generator) Next() []*dag.Transaction {
	payload := make([]byte, g.cfg.PayloadSize)
	for i := range payload {
		payload[i] = byte(g.rng.Uint32())
	}
	out := []*dag.Transaction{g.emit(g.devices[g.rng.IntN(len(g.devices))], dag.KindData, payload)}
	g.count++
	if g.cfg.BeaconEvery > 0 && g.count%g.cfg.BeaconEvery == 0 {
		for _, b := range g.beacons {
			out = append(out, g.emit(b, dag.KindBeacon, nil))
		}
	}
	return out
}

// Take returns at least n transactions of the stream.
func (g *Generator) Take(n int) []*dag.Transaction {
	out := make([]*dag.Transaction, 0, n+len(g.beacons))
	for len(out) < n {
		out = append(out, g.Next()...)
	}
	return out
}

// Encode returns the canonical bytes of each transaction, in parallel.
func Encode(txs []*dag.Transaction) [][]byte {
	out := make([][]byte, len(txs))
	workers := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(txs); i += workers {
				out[i] = txs[i].Bytes()
			}
		}()
	}
	wg.Wait()
	return out
}
