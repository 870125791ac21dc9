package policy

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func src(reads Reads, expr string) *Source {
	return &Source{Name: "t", Version: 1, Reads: reads, Expr: expr}
}

var lim = Limits{MaxPayload: 4096, CostLimit: DefaultCostLimit}

func TestCompileRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, expr string
		reads      Reads
		code       string
		msg        string
	}{
		{"not bool", `tx.size`, ReadTx, CodeInvalid, "not bool"},
		{"undeclared group", `device.class == "x"`, ReadTx, CodeInvalid, "undeclared reference"},
		{"syntax", `tx.size <=`, ReadTx, CodeInvalid, "Syntax error"},
		{"map iteration", `device.attributes.exists(k, k == "a")`, ReadDevice, CodeInvalid, "map order"},
		{"map literal iteration", `{"a": 1, "b": 2}.map(k, k).size() == 2`, ReadTx, CodeInvalid, "map order"},
		{"time zone", `tx.time.getHours("Europe/Berlin") > 3`, ReadTx, CodeInvalid, "time zone"},
		{"non-literal regex", `"abc".matches(device.class)`, ReadDevice, CodeInvalid, "literal pattern"},
		{"payload scan over budget", `tx.payload.size() > 0 && string(tx.payload).contains("x") && string(tx.payload).contains("y") && string(tx.payload) == "z"`, ReadTx, CodeTooCostly, "over the network's limit"},
		{"list building", `[1,2,3,4,5,6,7,8].map(a, [1,2,3,4,5,6,7,8].map(b, [1,2,3,4,5,6,7,8].map(c, [1,2,3,4,5,6,7,8].map(d, a*b*c*d)))).size() > 0`, ReadTx, CodeTooCostly, "over the network's limit"},
		{"nested macros", strings.Repeat("[1].all(x, ", 40) + "true" + strings.Repeat(")", 40), ReadTx, CodeInvalid, "recursion"},
		{"string doubling", `string(tx.payload) + string(tx.payload) + string(tx.payload) + string(tx.payload) + string(tx.payload) + string(tx.payload) + string(tx.payload) + string(tx.payload) + string(tx.payload) == ""`, ReadTx, CodeTooCostly, "over the network's limit"},
		{"deep nesting", strings.Repeat("(", 200) + "true" + strings.Repeat(")", 200), ReadTx, CodeInvalid, "recursion"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Compile(src(tc.reads, tc.expr), lim)
			if !IsCode(err, tc.code) {
				t.Fatalf("err = %v, want code %s", err, tc.code)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("err = %v, want it to mention %q", err, tc.msg)
			}
		})
	}
}

func TestEval(t *testing.T) {
	base := time.Date(2026, 12, 2, 9, 30, 0, 0, time.UTC).UnixNano()
	in := &Input{
		Tx:      Tx{Kind: "data", Seq: 5, Time: base, Payload: make([]byte, 100), Issuer: "aa"},
		Device:  Device{ID: "d", Class: "thermostat", Owner: "aa", State: "active", Attributes: map[string]string{"site": "north"}, Firmware: 3},
		History: History{Count: 5, LastTime: base - int64(20*time.Second), InWindow: 2},
	}
	for _, tc := range []struct {
		expr  string
		allow bool
		err   bool
	}{
		{`tx.size <= 256 && tx.time - history.last_time >= duration("10s")`, true, false},
		{`tx.size <= 64`, false, false},
		{`tx.time.getHours() >= 8 && tx.time.getHours() < 18`, true, false},
		{`device.attributes["site"] == "north" && "site" in device.attributes`, true, false},
		{`device.attributes["missing"] == "x"`, false, true},
		{`{"a": tx.seq, "b": 2}["a"] == 5`, true, false},
		{`device.firmware >= 3 && history.in_window < 10`, true, false},
		{`tx.issuer == device.owner`, true, false},
		{`1 / (tx.seq - 5) > 0`, false, true},
	} {
		p, err := Compile(src(readAll, tc.expr), lim)
		if err != nil {
			t.Fatalf("%s: %v", tc.expr, err)
		}
		v := p.Eval(in)
		if v.Allow != tc.allow || (v.Err != nil) != tc.err {
			t.Errorf("%s: allow=%v err=%v, want allow=%v err=%v", tc.expr, v.Allow, v.Err, tc.allow, tc.err)
		}
		_, maxCost := p.EstimatedCost()
		if v.Cost > maxCost {
			t.Errorf("%s: actual cost %d above the estimate %d", tc.expr, v.Cost, maxCost)
		}
	}
}

func TestUses(t *testing.T) {
	// inputNames must list every declared variable.
	n := 0
	for _, vars := range groupVars {
		n += len(vars)
	}
	if n != len(inputNames) {
		t.Fatalf("%d variables declared, %d in inputNames", n, len(inputNames))
	}
	p, err := Compile(src(readAll, `tx.size < 3 && [1].all(x, x < history.in_window)`), lim)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{"tx.size": true, "history.in_window": true, "tx.time": false, "device.id": false, "x": false} {
		if p.Uses(name) != want {
			t.Errorf("Uses(%q) = %v, want %v", name, !want, want)
		}
	}
}

func TestRuntimeCostLimit(t *testing.T) {
	// The estimate bounds the run, so a policy that passed install never
	// meets the run-time limit; the limit is the second line of defence
	// should an estimate be unsound. Compiled with a run-time limit below
	// its cost, the evaluation stops there with ErrCostLimit.
	expr := `[1,2,3,4,5,6,7,8,9,10].all(a, [1,2,3,4,5,6,7,8,9,10].all(b, a * b > 0))`
	p, err := compile(src(ReadTx, expr), Limits{MaxPayload: 4096, CostLimit: 100000}, 50)
	if err != nil {
		t.Fatal(err)
	}
	v := p.Eval(&Input{})
	if !errors.Is(v.Err, ErrCostLimit) || v.Allow {
		t.Fatalf("verdict %+v, want a denial at the cost limit", v)
	}
	full, err := compile(src(ReadTx, expr), Limits{MaxPayload: 4096, CostLimit: 100000}, 100000)
	if err != nil {
		t.Fatal(err)
	}
	if v := full.Eval(&Input{}); !v.Allow || v.Cost <= 50 {
		t.Fatalf("verdict %+v, want allow at a cost above 50", v)
	}
}

func TestRegexIsLinear(t *testing.T) {
	// RE2 has no backtracking: the classic catastrophic pattern over the
	// largest payload is priced at install and fast at run time.
	p, err := Compile(src(ReadTx, `string(tx.payload).matches("^(a*)*b$")`), Limits{MaxPayload: 4096, CostLimit: 10000})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	v := p.Eval(&Input{Tx: Tx{Payload: []byte(strings.Repeat("a", 4096))}})
	if v.Err != nil || v.Allow {
		t.Fatalf("verdict %+v", v)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("a 4 KiB match took %v", d)
	}
	if _, err := Compile(src(ReadTx, `"a".matches("(")`), lim); !IsCode(err, CodeInvalid) {
		t.Fatalf("an invalid pattern: err = %v, want policy_invalid", err)
	}
}

func TestParseFileRoundTrip(t *testing.T) {
	text := "// name: thermostat\n// version: 3\n// reads: tx, history\n// window: 10s\n// rate: 1/10s growth 2\n// node-work: 6/1m0s\n// a comment kept\ntx.size <= 256\n"
	s, err := ParseFile([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != "thermostat" || s.Version != 3 || s.Reads != ReadTx|ReadHistory || s.Window != 10*time.Second ||
		*s.Rate != (Rate{Count: 1, Window: 10 * time.Second, Growth: 2}) || *s.NodeWork != (Rate{Count: 6, Window: time.Minute}) {
		t.Fatalf("parsed %+v", s)
	}
	if !strings.Contains(s.Expr, "a comment kept") {
		t.Errorf("expression %q lost its comment", s.Expr)
	}
	back, err := Decode(s.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if string(back.Format()) != string(s.Format()) {
		t.Errorf("round trip:\n%s\nvs\n%s", back.Format(), s.Format())
	}
	again, err := ParseFile(s.Format())
	if err != nil || string(again.Encode()) != string(s.Encode()) {
		t.Errorf("Format does not parse back: %v", err)
	}
	for _, bad := range []string{
		"tx.size > 1",
		"// name: x\n// version: 0\n// reads: tx\ntrue",
		"// name: x\n// version: 1\n// reads: tx, clock\ntrue",
		"// name: X\n// version: 1\n// reads: tx\ntrue",
		"// name: x\n// version: 1\n// reads: tx\n// rate: 1/0s\ntrue",
		"// name: x\n// name: y\n// version: 1\n// reads: tx\ntrue",
		"// name: x\n// version: 1\n// reads: tx\n",
	} {
		if _, err := ParseFile([]byte(bad)); !errors.Is(err, ErrSource) {
			t.Errorf("%q: err = %v, want ErrSource", bad, err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	s, _ := ParseFile([]byte("// name: a\n// version: 1\n// reads: tx\n// rate: 2/1s\ntx.size < 10\n"))
	f.Add(s.Encode())
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, p []byte) {
		s, err := Decode(p)
		if err != nil {
			if !errors.Is(err, ErrSource) {
				t.Fatalf("error %v does not wrap ErrSource", err)
			}
			return
		}
		if string(s.Encode()) != string(p) {
			t.Fatalf("decoded form is not canonical")
		}
		_, _ = Compile(s, lim) // must not panic
	})
}
