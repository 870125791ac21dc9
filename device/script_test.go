package device_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"

	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/dag/dagtest"
	"github.com/tangled-ledger/tangled/device"
	"github.com/tangled-ledger/tangled/device/policy"
)

// TestScripts runs the registry's rules as readable scenarios
// (testdata/*.txt, etcd's datadriven style). Commands:
//
//	genesis authorities=a1:sensor+meter,a2:sensor [permissioned] [cost=N]
//	                                          (class * is every class, and network policies)
//	register by=a1 key=k1 class=sensor as=d1 [next=k2] [attrs=site:x,...] [parents=...]
//	post key=k1 [as=t1] [parents=x,y] [size=N] [bits=N]
//	                                          a data transaction of key k1's chain (payload of
//	                                          N bytes; exactly N bits of work instead of the rules')
//	command key=k1|by=a1 to=d1 [body=text] [as=...] [parents=...]
//	policy by=a1 network|class=sensor|device=d1 [as=p1] [parents=...]
//	<policy file>                             a policy transaction
//	wait 10s                                  advance the issuing clock
//	ruledout t1                               whether this node rules t1 out of tip selection
//	genesis ... approvals=class:a2+a3/2       a class's k-of-n firmware approvers
//	release by=a1 class=c seq=N [component=x] [requires=N] [security] [image=text] [as=r1]
//	approve by=a2 release=r1                  an approver's co-signature
//	install key=k1 class=c release=r1 [result=failed] [image=text]
//	                                          an install report (the release's digest unless image=)
//	firmware c                                the class's releases and rollout
//	retire by=a2 [as=...] [parents=...]       an authority retires its own key
//	policies [d1]                             the policies in force (for a device: that judge it)
//	twin key=k1 of=t1 [as=t1b]                a clone: same sequence as t1
//	rotate key=k1 new=k2 [next=k3] [as=r1] [parents=...]
//	suspend|resume|revoke by=a1 device=d1 [as=...] [parents=...]
//	transfer by=a1 device=d1 to=a2 [parents=...]
//	notice of=t1,t1b [as=...]                 validator v0's quarantine notice
//	validator kind=beacon|checkpoint [as=...] [parents=...]
//	                                          validator v0's beacon or checkpoint transaction
//	device d1                                 the device's state
//	digest                                    the registry's digest (changes only)
//
// parents defaults to the newest attached transaction, so a transaction
// sees everything before it; name older ones to leave something out of
// its past.
func TestScripts(t *testing.T) {
	datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
		s := &script{}
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string { return s.run(t, d) })
	})
}

// script is one scenario file's world, which its genesis command makes.
type script struct{ w *world }

// run carries out one command of a scenario file and returns its output.
func (s *script) run(t testing.TB, d *datadriven.TestData) string {
	w := s.w
	if d.Cmd != "genesis" && w == nil {
		t.Fatalf("%s: genesis first", d.Pos)
	}
	arg := func(key string) string {
		for _, a := range d.CmdArgs {
			if a.Key == key {
				return strings.Join(a.Vals, ",")
			}
		}
		return ""
	}
	switch d.Cmd {
	case "genesis":
		var limit uint64
		if c := arg("cost"); c != "" {
			fmt.Sscan(c, &limit)
		}
		w = newWorldWith(t, strings.Split(arg("authorities"), ","), d.HasArg("permissioned"), func(g *dag.Genesis) {
			g.PolicyCostLimit = limit
			// approvals=class:a1+a2/2,...
			for _, spec := range d.CmdArgs {
				if spec.Key != "approvals" {
					continue
				}
				for _, rule := range strings.Split(strings.Join(spec.Vals, ","), ",") {
					class, rest, _ := strings.Cut(rule, ":")
					names, k, _ := strings.Cut(rest, "/")
					fa := dag.FirmwareApproval{Class: class}
					fmt.Sscan(k, &fa.Threshold)
					for _, n := range strings.Split(names, "+") {
						fa.Approvers = append(fa.Approvers, dagtest.PublicKey(dagtest.Key("authority-"+n)))
					}
					g.FirmwareApprovals = append(g.FirmwareApprovals, fa)
				}
			}
		})
		s.w = w
		if err := w.net.Genesis.Validate(); err != nil {
			return err.Error()
		}
		return "ok"
	case "release":
		image := []byte(arg("image"))
		if len(image) == 0 {
			image = []byte("image " + arg("seq"))
		}
		rel := &device.Release{Class: arg("class"), Component: "main", Digest: device.ImageDigest(image), Size: uint64(len(image)),
			URIs: []string{"https://updates.example/" + arg("seq")}, Security: d.HasArg("security")}
		if c := arg("component"); c != "" {
			rel.Component = c
		}
		fmt.Sscan(arg("seq"), &rel.Seq)
		if r := arg("requires"); r != "" {
			fmt.Sscan(r, &rel.Requires)
		}
		trunk, branch := w.parents(arg("parents"))
		out := w.issue(arg("as"), w.auth[arg("by")], dag.KindRelease, trunk, branch, rel.Encode())
		if !strings.HasPrefix(out, "accepted") {
			out += ": " + w.lastErr
		}
		return out
	case "approve":
		trunk, branch := w.parents(arg("parents"))
		out := w.issue(arg("as"), w.auth[arg("by")], dag.KindApproval, trunk, branch, device.ApprovalPayload(w.txs[arg("release")]))
		if !strings.HasPrefix(out, "accepted") {
			out += ": " + w.lastErr
		}
		return out
	case "retire":
		trunk, branch := w.parents(arg("parents"))
		out := w.issue(arg("as"), w.auth[arg("by")], dag.KindRetire, trunk, branch, nil)
		if !strings.HasPrefix(out, "accepted") {
			out += ": " + w.lastErr
		}
		return out
	case "install":
		rel := w.txs[arg("release")]
		digest := device.ImageDigest([]byte(arg("image")))
		if arg("image") == "" {
			for _, r := range w.registry.Firmware(arg("class"), nil).Releases {
				if r.ID == rel {
					digest = [32]byte(r.Digest)
				}
			}
		}
		result := device.InstallOK
		if arg("result") == "failed" {
			result = device.InstallFailed
		}
		trunk, branch := w.parents(arg("parents"))
		out := w.issue(arg("as"), w.chain(arg("key")), dag.KindInstall, trunk, branch, device.InstallPayload(rel, digest, result))
		if !strings.HasPrefix(out, "accepted") && !strings.Contains(out, ":") {
			out += ": " + w.lastErr
		}
		return out
	case "firmware":
		st := w.registry.Firmware(d.CmdArgs[0].Key, nil)
		var b strings.Builder
		for _, r := range st.Releases {
			fmt.Fprintf(&b, "%s %s/%s seq %d approvals %d/%d active=%v security=%v\n", w.name(r.ID), r.Class, r.Component, r.Seq, len(r.Approvals), r.Threshold, r.Active, r.Security)
		}
		fmt.Fprintf(&b, "installed %v failed %v\n", st.Installed, st.Failed)
		return b.String()
	case "register":
		reg := &device.Registration{Key: devicePublicKey(arg("key")), Class: arg("class")}
		if next := arg("next"); next != "" {
			h := device.KeyHash(devicePublicKey(next))
			reg.NextKeyHash = &h
		}
		if attrs := arg("attrs"); attrs != "" {
			for _, kv := range strings.Split(attrs, ",") {
				k, v, _ := strings.Cut(kv, ":")
				reg.Attributes = append(reg.Attributes, device.Attribute{Key: k, Value: v})
			}
		}
		trunk, branch := w.parents(arg("parents"))
		out := w.issue(arg("as"), w.auth[arg("by")], dag.KindRegister, trunk, branch, reg.Encode())
		if out == "accepted" {
			w.devices[arg("as")] = w.last
		}
		return out
	case "post":
		trunk, branch := w.parents(arg("parents"))
		payload := []byte("reading")
		if n := arg("size"); n != "" {
			var size int
			fmt.Sscan(n, &size)
			payload = make([]byte, size)
		}
		if b := arg("bits"); b != "" {
			var bits int
			fmt.Sscan(b, &bits)
			return w.issueBits(arg("as"), w.chain(arg("key")), dag.KindData, trunk, branch, payload, bits)
		}
		return w.issue(arg("as"), w.chain(arg("key")), dag.KindData, trunk, branch, payload)
	case "command":
		is := w.auth[arg("by")]
		if k := arg("key"); k != "" {
			is = w.chain(k)
		}
		trunk, branch := w.parents(arg("parents"))
		return w.issue(arg("as"), is, dag.KindCommand, trunk, branch, device.CommandPayload(w.devices[arg("to")], []byte(arg("body"))))
	case "policy":
		src, err := policy.ParseFile([]byte(d.Input))
		if err != nil {
			return "file: " + err.Error()
		}
		p := &device.PolicyPayload{Scope: device.ScopeNetwork, Source: src}
		if c := arg("class"); c != "" {
			p.Scope, p.Class = device.ScopeClass, c
		}
		if dv := arg("device"); dv != "" {
			p.Scope, p.Device = device.ScopeDevice, w.devices[dv]
		}
		trunk, branch := w.parents(arg("parents"))
		out := w.issue(arg("as"), w.auth[arg("by")], dag.KindPolicy, trunk, branch, p.Encode())
		if !strings.HasPrefix(out, "accepted") {
			out += ": " + w.lastErr
		}
		return out
	case "ruledout":
		info, ok := w.ledger.Info(w.txs[d.CmdArgs[0].Key])
		return fmt.Sprint(ok && info.RuledOut)
	case "wait":
		dur, err := time.ParseDuration(d.CmdArgs[0].Key)
		if err != nil {
			t.Fatal(err)
		}
		w.clock += int64(dur)
		return "ok"
	case "policies":
		var infos []device.PolicyInfo
		if len(d.CmdArgs) > 0 {
			infos, _ = w.registry.PoliciesFor(w.devices[d.CmdArgs[0].Key])
		} else {
			infos = w.registry.Policies(device.PolicyQuery{InForce: true})
		}
		var b strings.Builder
		for _, p := range infos {
			target := p.Class
			if p.Device != nil {
				target = w.name(*p.Device)
			}
			fmt.Fprintf(&b, "%s %s %s v%d by %s", w.name(p.Transaction), p.Scope, p.Name, p.Version, w.authorityName(p.Authority))
			if target != "" {
				fmt.Fprintf(&b, " on %s", target)
			}
			if p.Rate != "" {
				fmt.Fprintf(&b, " rate %s", p.Rate)
			}
			b.WriteString("\n")
		}
		if b.Len() == 0 {
			return "none"
		}
		return b.String()
	case "twin":
		orig, ok := w.txs[arg("of")]
		if !ok {
			t.Fatalf("unknown transaction %q", arg("of"))
		}
		info, _ := w.ledger.Info(orig)
		is := w.chain(arg("key"))
		clone := &dagtest.Issuer{Key: is.Key, Rules: is.Rules, Seq: info.Seq, Prev: info.Prev}
		return w.submit(arg("as"), clone.Issue(dag.KindData, w.last, w.last, w.now(), []byte("cloned")))
	case "rotate":
		var next *[32]byte
		if n := arg("next"); n != "" {
			h := device.KeyHash(devicePublicKey(n))
			next = &h
		}
		trunk, branch := w.parents(arg("parents"))
		is := w.chain(arg("key"))
		newKey := dagtest.Key("device-" + arg("new"))
		saved := *is
		tx := is.Rotate(newKey, next, trunk, branch, w.now())
		out := w.submit(arg("as"), tx)
		if out == "accepted" {
			w.chains[arg("new")] = is
		} else {
			*is = saved // the chain did not move
		}
		return out
	case "suspend", "resume", "revoke", "transfer":
		id, ok := w.devices[arg("device")]
		if !ok {
			copy(id[:], arg("device")) // a device nobody registered
		}
		kind := map[string]dag.Kind{"suspend": dag.KindSuspend, "resume": dag.KindResume, "revoke": dag.KindRevoke, "transfer": dag.KindTransfer}[d.Cmd]
		payload := device.LifecyclePayload(id)
		if kind == dag.KindTransfer {
			payload = device.TransferPayload(id, dagtest.PublicKey(w.authKey[arg("to")]))
		}
		trunk, branch := w.parents(arg("parents"))
		return w.issue(arg("as"), w.auth[arg("by")], kind, trunk, branch, payload)
	case "notice":
		twins := strings.Split(arg("of"), ",")
		v := &dagtest.Issuer{Key: w.net.Validators[0], Rules: w.rules}
		if st, ok := w.ledger.IssuerState(dagtest.PublicKey(v.Key), 0); ok {
			v.Seq, v.Prev = st.NextSeq, st.Prev
		}
		return w.issue(arg("as"), v, dag.KindQuarantine, w.txs[twins[0]], w.txs[twins[1]], nil)
	case "validator":
		v := &dagtest.Issuer{Key: w.net.Validators[0], Rules: w.rules}
		if st, ok := w.ledger.IssuerState(dagtest.PublicKey(v.Key), 0); ok {
			v.Seq, v.Prev = st.NextSeq, st.Prev
		}
		kind, payload := dag.KindBeacon, []byte(nil)
		if arg("kind") == "checkpoint" {
			kind, payload = dag.KindCheckpoint, make([]byte, dag.CheckpointPayloadSize)
		}
		trunk, branch := w.parents(arg("parents"))
		return w.issue(arg("as"), v, kind, trunk, branch, payload)
	case "device":
		return w.describe(w.devices[d.CmdArgs[0].Key])
	case "digest":
		return fmt.Sprintf("%x", w.registry.Digest())[:16]
	}
	t.Fatalf("%s: unknown command %q", d.Pos, d.Cmd)
	return ""
}
