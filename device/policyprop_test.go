package device_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/dag/dagtest"
	"github.com/tangled-ledger/tangled/device"
	"github.com/tangled-ledger/tangled/device/policy"
)

// exprGen writes random well-typed CEL policies over every input: integer
// and string arithmetic, comparisons, list macros, map literals built from
// the inputs (and indexed, sized, tested with 'in'), timestamps and
// durations, and expressions that fail at run time (a missing map key,
// division by zero, a duplicate map key), which deny.
type exprGen struct{ rng *rand.Rand }

func (g exprGen) intExpr(depth int) string {
	atoms := []string{"tx.size", "tx.seq", "history.count", "history.in_window", "device.firmware",
		"size(device.attributes)", "size(device.class)", fmt.Sprint(g.rng.IntN(300) - 20)}
	if depth <= 0 {
		return atoms[g.rng.IntN(len(atoms))]
	}
	a, b := g.intExpr(depth-1), g.intExpr(depth-1)
	switch g.rng.IntN(9) {
	case 0:
		return "(" + a + " + " + b + ")"
	case 1:
		return "(" + a + " - " + b + ")"
	case 2:
		return "(" + a + " * " + b + ")"
	case 3:
		return "(" + a + " % " + b + ")" // may divide by zero
	case 4:
		return fmt.Sprintf(`{"a": %s, "b": %s}[%q]`, a, b, []string{"a", "b"}[g.rng.IntN(2)])
	case 5:
		return fmt.Sprintf("[%s, %s, 3].map(x, x * 2)[%d]", a, b, g.rng.IntN(3))
	case 6:
		return fmt.Sprintf("[%s, %s, tx.seq].filter(x, x > %d).size()", a, b, g.rng.IntN(10))
	case 7:
		return fmt.Sprintf(`{string(%s): 1, "x": 2}.size()`, a) // a key clash is a run-time error
	}
	return atoms[g.rng.IntN(len(atoms))]
}

func (g exprGen) boolExpr(depth int) string {
	if depth <= 0 {
		atoms := []string{
			"true", "false",
			`device.class == "sensor"`, `"site" in device.attributes`,
			`device.attributes["site"] == "north"`, // no such key on some devices: an error
			`tx.kind == "data"`, `device.state == "active"`,
			`tx.time - history.last_time > duration("2ms")`,
			`tx.time.getHours() < 12`, `tx.time.getMilliseconds() % 2 == 0`,
			`string(tx.payload).startsWith("a")`, `tx.payload.size() == tx.size`,
			`tx.issuer == device.key`, `device.owner != ""`,
			`history.last_time < tx.time`,
		}
		return atoms[g.rng.IntN(len(atoms))]
	}
	ops := []string{"<", "<=", ">", ">=", "==", "!="}
	switch g.rng.IntN(8) {
	case 0, 1:
		return g.intExpr(depth-1) + " " + ops[g.rng.IntN(len(ops))] + " " + g.intExpr(depth-1)
	case 2:
		return "(" + g.boolExpr(depth-1) + " && " + g.boolExpr(depth-1) + ")"
	case 3:
		return "(" + g.boolExpr(depth-1) + " || " + g.boolExpr(depth-1) + ")"
	case 4:
		return "!(" + g.boolExpr(depth-1) + ")"
	case 5:
		return fmt.Sprintf("[%s, %s].exists(x, x == tx.seq %% 5)", g.intExpr(depth-1), g.intExpr(depth-1))
	case 6:
		return fmt.Sprintf(`{"p": %s, "q": %s}["p"]`, g.boolExpr(depth-1), g.boolExpr(depth-1))
	}
	return fmt.Sprintf("(%s ? %s : %s)", g.boolExpr(depth-1), g.boolExpr(depth-1), g.boolExpr(depth-1))
}

// TestPolicyVerdictsAgree: 10,000 device transactions judged by randomly
// generated policies (replaced every few transactions, so many
// transactions are judged by an older version their past still shows)
// are delivered to three more ledgers in shuffled orders; each accepts
// exactly the same set and ends with the same registry digest, and a
// re-evaluation of each verdict gives the same result and cost.
func TestPolicyVerdictsAgree(t *testing.T) {
	const cases = 10000
	rng := rand.New(rand.NewPCG(11, 11))
	gen := exprGen{rng}
	w := newWorld(t, []string{"a1:sensor+meter", "root:*"}, true)
	a1, root := w.auth["a1"], w.auth["root"]
	var offered []*dag.Transaction
	var attached []dag.ID
	offer := func(is *dagtest.Issuer, tx *dag.Transaction) dag.Result {
		offered = append(offered, tx)
		results, err := w.ledger.AttachVerified([]*dag.Transaction{tx}).Wait()
		if err != nil {
			t.Fatal(err)
		}
		if results[0].Status == dag.StatusAttached {
			attached = append(attached, tx.ID())
		}
		return results[0]
	}
	parents := func() (dag.ID, dag.ID) {
		pick := func() dag.ID {
			back := rng.IntN(min(len(attached), 6))
			return attached[len(attached)-1-back]
		}
		return pick(), pick()
	}
	// Devices of two classes, some with attributes.
	type dev struct {
		id      dag.ID
		chain   *dagtest.Issuer
		version uint64
	}
	var devs []*dev
	attached = append(attached, w.ledger.Root())
	for i := range 12 {
		reg := device.Registration{Key: devicePublicKey(fmt.Sprint("p", i)), Class: []string{"sensor", "meter"}[i%2]}
		if i%3 == 0 {
			reg.Attributes = []device.Attribute{{Key: "firmware", Value: fmt.Sprint(i)}, {Key: "site", Value: []string{"north", "south"}[i%2]}}
		}
		trunk, branch := parents()
		tx := a1.Issue(dag.KindRegister, trunk, branch, w.now(), reg.Encode())
		if r := offer(a1, tx); r.Status != dag.StatusAttached {
			t.Fatalf("registration: %v", r.Err)
		}
		devs = append(devs, &dev{id: tx.ID(), chain: &dagtest.Issuer{Key: dagtest.Key(fmt.Sprint("device-p", i))}})
	}
	verdicts := map[string]int{}
	installs := map[string]int{}
	versions := map[string]uint64{} // network and class scopes
	judged := 0
	for judged < cases {
		d := devs[rng.IntN(len(devs))]
		if rng.IntN(8) == 0 {
			// A new policy version for the device (most often), its
			// class, or the network (by the authority of every class).
			src := &policy.Source{Name: "gen", Reads: policy.ReadTx | policy.ReadDevice | policy.ReadHistory,
				Window: time.Duration(1+rng.IntN(20)) * time.Millisecond, Expr: gen.boolExpr(1 + rng.IntN(3))}
			p := &device.PolicyPayload{Scope: device.ScopeDevice, Device: d.id, Source: src}
			by, version := a1, &d.version
			switch rng.IntN(6) {
			case 0:
				p.Scope, p.Class = device.ScopeClass, []string{"sensor", "meter"}[rng.IntN(2)]
				v := versions[p.Class]
				version = &v
			case 1:
				p.Scope, by = device.ScopeNetwork, root
				v := versions[""]
				version = &v
			}
			if p.Scope != device.ScopeDevice {
				// Wider policies admit most, or little would pass all three.
				src.Expr = "(" + src.Expr + ") || tx.size % 4 != 0"
			}
			src.Version = *version + 1
			trunk, branch := parents()
			saved := *by
			r := offer(by, by.Issue(dag.KindPolicy, trunk, branch, w.now(), p.Encode()))
			if r.Status != dag.StatusAttached {
				*by = saved
				installs[dag.Code(r.Err)]++
				continue
			}
			installs["installed "+p.Scope.String()]++
			switch p.Scope {
			case device.ScopeDevice:
				d.version++
			case device.ScopeClass:
				versions[p.Class]++
			default:
				versions[""]++
			}
			continue
		}
		if rng.IntN(10) == 0 {
			// A command to another device, judged by both.
			to := devs[rng.IntN(len(devs))]
			trunk, branch := parents()
			saved := *d.chain
			r := offer(d.chain, d.chain.Issue(dag.KindCommand, trunk, branch, w.now(), device.CommandPayload(to.id, []byte("go"))))
			judged++
			if r.Status == dag.StatusAttached {
				verdicts["command accepted"]++
			} else {
				*d.chain = saved
				verdicts["command "+dag.Code(r.Err)]++
			}
			continue
		}
		payload := make([]byte, rng.IntN(40))
		for i := range payload {
			payload[i] = "abc"[rng.IntN(3)]
		}
		trunk, branch := parents()
		saved := *d.chain
		r := offer(d.chain, d.chain.Issue(dag.KindData, trunk, branch, w.now(), payload))
		judged++
		if r.Status == dag.StatusAttached {
			verdicts["accepted"]++
		} else {
			*d.chain = saved
			verdicts[dag.Code(r.Err)]++
		}
	}
	t.Logf("%d device transactions: %v; policies: %v", judged, verdicts, installs)
	if verdicts["accepted"] < cases/10 || verdicts[device.CodePolicyDenied] < cases/10 || installs["installed device"] < 100 ||
		installs["installed class"] < 20 || installs["installed network"] < 20 || verdicts["command accepted"] < 30 {
		t.Fatalf("corpus too tame: %v, %v", verdicts, installs)
	}
	want := w.registry.Digest()
	wantAttached := attachedSet(w.ledger, offered)
	for k := range 3 {
		order := slices.Clone(offered)
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		reg := device.New(*w.net.Genesis)
		l, err := dag.Open(dag.Config{Genesis: w.net.Genesis, Rules: reg,
			Now: func() time.Time { return time.Unix(0, w.clock).Add(time.Hour) }})
		if err != nil {
			t.Fatal(err)
		}
		// In batches, as a node receives them; parked ones wait for
		// their parents, and are then judged from their past.
		for i := 0; i < len(order); i += 64 {
			if _, err := l.AttachVerified(order[i:min(i+64, len(order))]).Wait(); err != nil {
				t.Fatal(err)
			}
		}
		if got := attachedSet(l, offered); !slices.Equal(got, wantAttached) {
			t.Fatalf("ledger %d attached %d transactions, the source %d", k, len(got), len(wantAttached))
		}
		if got := reg.Digest(); got != want {
			t.Fatalf("ledger %d: registry digest %x, the source's %x", k, got, want)
		}
	}
}

// TestPolicyEvalRepeatable: every generated policy gives the same verdict
// and the same cost when evaluated again on the same input.
func TestPolicyEvalRepeatable(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	gen := exprGen{rng}
	in := &policy.Input{
		Tx:      policy.Tx{Kind: "data", Seq: 3, Time: dagtest.GenesisTime.UnixNano(), Payload: []byte("abc"), Issuer: "aa"},
		Device:  policy.Device{ID: "d", Class: "sensor", Owner: "bb", State: "active", Key: "aa", Attributes: map[string]string{"site": "north", "firmware": "2"}, Firmware: 2},
		History: policy.History{Count: 3, LastTime: dagtest.GenesisTime.UnixNano() - 5e6, InWindow: 2},
	}
	compiled := 0
	for range 600 {
		src := &policy.Source{Name: "gen", Version: 1, Reads: policy.ReadTx | policy.ReadDevice | policy.ReadHistory, Expr: gen.boolExpr(3)}
		p, err := policy.Compile(src, policy.Limits{MaxPayload: 4096})
		if err != nil {
			if !policy.IsCode(err, policy.CodeTooCostly) {
				t.Fatalf("%s: %v", src.Expr, err)
			}
			continue
		}
		compiled++
		first := p.Eval(in)
		for range 3 {
			again := p.Eval(in)
			if again.Allow != first.Allow || again.Cost != first.Cost || (again.Err == nil) != (first.Err == nil) ||
				again.Err != nil && again.Err.Error() != first.Err.Error() {
				t.Fatalf("%s: %+v then %+v", src.Expr, first, again)
			}
		}
		if _, hi := p.EstimatedCost(); first.Cost > hi {
			t.Fatalf("%s: cost %d above the estimate %d", src.Expr, first.Cost, hi)
		}
	}
	if compiled < 300 {
		t.Fatalf("only %d of 600 generated policies compiled", compiled)
	}
}
