package node_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tangled-ledger/tangled/client"
	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/dag/dagtest"
	"github.com/tangled-ledger/tangled/device"
	"github.com/tangled-ledger/tangled/device/policy"
	"github.com/tangled-ledger/tangled/internal/poll"
)

// policyCluster is a permissioned four-validator cluster whose genesis
// names two authorities: maker, of every class ("*", so it may set
// network policies), and fleet, of thermostats and locks.
type policyCluster struct {
	*deviceCluster
	maker, fleet       *client.Authority
	makerKey, fleetKey ed25519.PrivateKey
}

func newPolicyCluster(t *testing.T) *policyCluster {
	t.Helper()
	c := &policyCluster{deviceCluster: &deviceCluster{cluster: newCluster(t, 4)}}
	c.makerKey, c.fleetKey = dagtest.Key("maker"), dagtest.Key("fleet")
	c.g.Authorities = []dag.Authority{
		{Name: "maker", PublicKey: dagtest.PublicKey(c.makerKey), Classes: []string{dag.AllClasses}},
		{Name: "fleet", PublicKey: dagtest.PublicKey(c.fleetKey), Classes: []string{"thermostat", "lock"}},
	}
	c.g.Permissioned = true
	data, err := json.MarshalIndent(c.g, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(c.genesis, data, 0o644); err != nil {
		t.Fatal(err)
	}
	c.startAll()
	c.maker = client.NewAuthority(c.members[0].r.c, c.makerKey)
	c.fleet = client.NewAuthority(c.members[1].r.c, c.fleetKey)
	return c
}

// shippedPolicy reads one of examples/policies.
func shippedPolicy(t *testing.T, name string) *policy.Source {
	t.Helper()
	text, err := os.ReadFile(filepath.Join("..", "examples", "policies", name))
	if err != nil {
		t.Fatal(err)
	}
	src, err := policy.ParseFile(text)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return src
}

// setPolicy sets a policy through the authority's client and waits until
// every member has it.
func (c *policyCluster) setPolicy(a *client.Authority, p client.PolicyPayload) dag.ID {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	id, err := a.SetPolicy(ctx, p)
	if err != nil {
		c.t.Fatalf("policy %s: %v", p.Source.Name, err)
	}
	c.known(id)
	return id
}

// register has a register a device of class and waits until every member
// shows it active.
func (c *policyCluster) register(a *client.Authority, key ed25519.PrivateKey, class string, attrs ...client.Attribute) dag.ID {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var pub dag.PublicKey
	copy(pub[:], key.Public().(ed25519.PublicKey))
	id, err := a.Register(ctx, client.Registration{Key: pub, Class: class, Attributes: attrs})
	if err != nil {
		c.t.Fatalf("register %s: %v", class, err)
	}
	c.waitDevice(id, "active")
	return id
}

// verdict posts tx to every member, each once it holds tx's parents and
// predecessor (so none parks it), and returns the one code they all
// answer ("accepted" for none). Members that disagree fail the test.
func (c *policyCluster) verdict(tx *dag.Transaction) string {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	got := ""
	for i, m := range c.members {
		l := m.r.n.Ledger()
		poll.Until(c.t, 30*time.Second, m.name+" holds the parents", func() bool {
			return l.Known(tx.Trunk) && l.Known(tx.Branch) && (tx.Seq == 0 || l.Known(tx.Prev))
		})
		code := "accepted"
		if res, err := m.r.c.Post(ctx, tx); err != nil {
			code = apiCode(err)
			if code == "" {
				c.t.Fatalf("%s: %v", m.name, err)
			}
		} else if res.Status == client.StatusParked {
			c.t.Fatalf("%s parked %s", m.name, tx.ID().Short())
		}
		if i == 0 {
			got = code
		} else if code != got {
			c.t.Fatalf("%s answers %s for %s, %s answers %s", m.name, code, tx.ID().Short(), c.members[0].name, got)
		}
	}
	return got
}

// known waits until every member holds id.
func (c *policyCluster) known(id dag.ID) {
	c.t.Helper()
	for _, m := range c.members {
		poll.Until(c.t, 30*time.Second, m.name+" holds "+id.Short(), func() bool { return m.r.n.Ledger().Known(id) })
	}
}

// build signs key's next transaction on the chain head member m reports,
// issued at at, with see as its parents (the policy that must judge it
// and what else its validity hangs on, such as the issuer's registration;
// a missing one is m's tip), and solves the work m asks. A policy judges
// the transactions that have it in their past; choosing the parents
// makes the scenario's verdicts independent of which tips a node offers.
func (c *policyCluster) build(m *member, key ed25519.PrivateKey, kind dag.Kind, payload []byte, at time.Time, see ...dag.ID) *dag.Transaction {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var pub dag.PublicKey
	copy(pub[:], key.Public().(ed25519.PublicKey))
	tips, err := m.r.c.Tips(ctx, &pub, len(payload))
	if err != nil || tips.Issuer == nil {
		c.t.Fatalf("tips from %s: %+v, %v", m.name, tips, err)
	}
	parents := []dag.ID{tips.Trunk, tips.Branch}
	for i, id := range see {
		if !id.IsZero() {
			parents[i] = id
		}
	}
	tx := &dag.Transaction{Kind: kind, Trunk: parents[0], Branch: parents[1], Seq: tips.Issuer.NextSeq, Prev: tips.Issuer.Prev,
		Time: at.UnixNano(), Payload: payload}
	tx.Sign(key)
	if err := m.r.c.Solve(ctx, tx, tips.Difficulty); err != nil {
		c.t.Fatal(err)
	}
	return tx
}

// issue builds a transaction through m (see build) and returns the
// verdict all members reach.
func (c *policyCluster) issue(m *member, key ed25519.PrivateKey, kind dag.Kind, payload []byte, at time.Time, see ...dag.ID) string {
	c.t.Helper()
	return c.verdict(c.build(m, key, kind, payload, at, see...))
}

// settled waits for the members to agree and checks that their
// registries have one digest.
func (c *policyCluster) settled(id dag.ID) {
	c.t.Helper()
	c.waitQuiet(c.members, 60*time.Second)
	c.sameRegistry(id)
}

// TestClusterPolicies runs the three example policies of examples/policies
// through four real nodes, each transaction posted to all four: they reach
// the same verdict on every one and end with the same registry.
//
// Thermostat: one reading per 10 s of up to 256 bytes; an honest cadence
// needs only the base work on every node, a second reading within 10 s
// needs 8 more bits and is then denied. Lock: only the owner's command in
// its hours is accepted (the verdict for the owner follows the hour the
// test runs at; examples/policies covers both sides), other keys are
// denied at any hour. Firmware floor: a camera below the floor is
// refused, one above posts until a new version raises the floor.
func TestClusterPolicies(t *testing.T) {
	c := newPolicyCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// Thermostat: its readings see the class policy and the registration.
	thermo := c.setPolicy(c.maker, client.PolicyPayload{Scope: client.ScopeClass, Class: "thermostat", Source: shippedPolicy(t, "thermostat.cel")})
	thKey := newKey(t)
	thID := c.register(c.fleet, thKey, "thermostat")
	var thPub dag.PublicKey
	copy(thPub[:], thKey.Public().(ed25519.PublicKey))
	difficulty := func(size int) []int {
		var out []int
		for _, o := range c.members {
			tips, err := o.r.c.Tips(ctx, &thPub, size)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, tips.Difficulty)
		}
		return out
	}
	base := clusterRules.Required(256, 0)
	everywhere := func(bits int) []int { return []int{bits, bits, bits, bits} }
	if got := difficulty(256); !slices.Equal(got, everywhere(base)) {
		t.Fatalf("an idle thermostat's difficulty: %v on the four nodes, want %v", got, everywhere(base))
	}
	// Issuing times run ahead of the wall clock (within the ledger's
	// 30 s future drift), so 20 s of the thermostat's life take a moment.
	t0 := time.Now()
	reading := func(m *member, after time.Duration, payload []byte) string {
		return c.issue(m, thKey, dag.KindData, payload, t0.Add(after), thermo, thID)
	}
	if v := reading(c.members[2], 0, []byte("21.5C")); v != "accepted" {
		t.Fatalf("first reading: %s", v)
	}
	// The nodes count the rate at their own clock, so within 10 s of the
	// reading each asks 8 bits more: the HTTP API's numbers are the
	// policy's, on every node.
	if got := difficulty(256); !slices.Equal(got, everywhere(base+8)) {
		t.Fatalf("difficulty right after a reading: %v on the four nodes, want %v", got, everywhere(base+8))
	}
	if v := reading(c.members[3], time.Second, []byte("21.6C")); v != device.CodePolicyDenied {
		t.Fatalf("a reading 1 s later: %s", v)
	}
	if v := reading(c.members[0], 10*time.Second, make([]byte, 256)); v != "accepted" {
		t.Fatalf("256 bytes 10 s later: %s", v)
	}
	if v := reading(c.members[1], 20*time.Second, make([]byte, 257)); v != device.CodePolicyDenied {
		t.Fatalf("257 bytes: %s", v)
	}
	if v := c.issue(c.members[1], c.fleetKey, dag.KindCommand, device.CommandPayload(thID, []byte("set 19")), t0.Add(20*time.Second), thermo, thID); v != device.CodePolicyDenied {
		t.Fatalf("a command to the thermostat: %s", v)
	}
	c.settled(thID)
	for _, m := range c.members {
		if d, _ := m.r.n.Registry().Device(thID); len(d.Policies) != 1 || d.Policies[0].Transaction != thermo {
			t.Fatalf("%s: the thermostat's policies: %+v", m.name, d.Policies)
		}
	}

	// Lock: the device policy has the lock's registration in its past;
	// each command sees the policy and its issuer's registration.
	lockKey, strangerKey := newKey(t), newKey(t)
	lockID := c.register(c.fleet, lockKey, "lock")
	strangerID := c.register(c.fleet, strangerKey, "lock")
	lockPolicy := c.setPolicy(c.fleet, client.PolicyPayload{Scope: client.ScopeDevice, Device: lockID, Source: shippedPolicy(t, "lock.cel")})
	open := device.CommandPayload(lockID, []byte("open"))
	for i, by := range []struct {
		name  string
		key   ed25519.PrivateKey
		see   dag.ID
		owner bool
	}{{"the owner", c.fleetKey, dag.ID{}, true}, {"another authority", c.makerKey, dag.ID{}, false}, {"another lock", strangerKey, strangerID, false}} {
		m := c.members[i%4]
		tx := c.build(m, by.key, dag.KindCommand, open, time.Now(), lockPolicy, by.see)
		hour := time.Unix(0, tx.Time).UTC().Hour()
		want := device.CodePolicyDenied
		if by.owner && hour >= 8 && hour < 18 {
			want = "accepted"
		}
		if v := c.verdict(tx); v != want {
			t.Fatalf("%s's command at %02d h UTC: %s, want %s", by.name, hour, v, want)
		}
	}
	if v := c.issue(c.members[3], lockKey, dag.KindData, []byte("closed"), time.Now(), lockPolicy, lockID); v != "accepted" {
		t.Fatalf("the lock's own reading: %s", v)
	}
	c.settled(lockID)

	// Firmware floor.
	floor := shippedPolicy(t, "firmware-floor.cel")
	floorV1 := c.setPolicy(c.maker, client.PolicyPayload{Scope: client.ScopeClass, Class: "camera", Source: floor})
	oldKey, newerKey := newKey(t), newKey(t)
	oldID := c.register(c.maker, oldKey, "camera", client.Attribute{Key: "firmware", Value: "3"})
	newerID := c.register(c.maker, newerKey, "camera", client.Attribute{Key: "firmware", Value: "5"})
	if v := c.issue(c.members[1], oldKey, dag.KindData, []byte("frame"), time.Now(), floorV1, oldID); v != device.CodePolicyDenied {
		t.Fatalf("firmware 3 under floor 4: %s", v)
	}
	if v := c.issue(c.members[2], newerKey, dag.KindData, []byte("frame"), time.Now(), floorV1, newerID); v != "accepted" {
		t.Fatalf("firmware 5 under floor 4: %s", v)
	}
	if v := c.issue(c.members[3], c.makerKey, dag.KindCommand, device.CommandPayload(oldID, []byte("reboot")), time.Now(), floorV1, oldID); v != device.CodePolicyDenied {
		t.Fatalf("a command to firmware 3: %s", v)
	}
	raised := *floor
	raised.Version = 2
	raised.Expr = strings.Replace(floor.Expr, "device.firmware >= 4", "device.firmware >= 6", 1)
	floorV2 := c.setPolicy(c.maker, client.PolicyPayload{Scope: client.ScopeClass, Class: "camera", Source: &raised})
	if v := c.issue(c.members[0], newerKey, dag.KindData, []byte("frame"), time.Now(), floorV2, newerID); v != device.CodePolicyDenied {
		t.Fatalf("firmware 5 under floor 6: %s", v)
	}
	replay := device.PolicyPayload{Scope: device.ScopeClass, Class: "camera", Source: floor}
	if v := c.issue(c.members[1], c.makerKey, dag.KindPolicy, replay.Encode(), time.Now(), floorV2); v != device.CodePolicyOutdated {
		t.Fatalf("version 1 over version 2: %s, want %s", v, device.CodePolicyOutdated)
	}
	c.settled(oldID)
	for _, m := range c.members {
		if d, _ := m.r.n.Registry().Device(newerID); len(d.Policies) != 1 || d.Policies[0].Transaction != floorV2 {
			t.Fatalf("%s: the camera's policies: %+v", m.name, d.Policies)
		}
	}
}
