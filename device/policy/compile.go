package policy

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/checker"
	"cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/overloads"
	"cel.dev/cel-go/common/types"
	"github.com/zeebo/blake3"
)

// CostModelVersion is the cel-go cost model revision every node prices
// policies with. With the module version (go.mod pins cel.dev/cel-go) it
// is part of consensus: a release that moves costs would move verdicts at
// the cost limit.
const CostModelVersion = 1

// DefaultCostLimit is a network's policy cost limit when its genesis names
// none: about 50 µs of evaluation at cel-go's rough 50 ns per unit.
const DefaultCostLimit = 1000

// The error codes of a policy refused at install.
const (
	// CodeInvalid: malformed, does not type-check to a bool, reads what it
	// did not declare, or uses a construct the package forbids.
	CodeInvalid = "policy_invalid"
	// CodeTooCostly: the estimated cost is unbounded or over the limit.
	CodeTooCostly = "policy_too_costly"
)

// Error is a policy refused at install, with its code.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return "policy: " + e.Message }

func invalid(format string, args ...any) error {
	return &Error{Code: CodeInvalid, Message: fmt.Sprintf(format, args...)}
}

// Limits are a network's bounds on policies: the largest payload a
// transaction may carry (a size hint for the cost estimate) and the cost
// limit, estimated at install and enforced at evaluation.
type Limits struct {
	MaxPayload int
	CostLimit  uint64
}

// Sizes of the inputs, the hints of the cost estimate: hex keys and IDs
// are 64 characters, classes and attribute keys at most 64, attribute
// values at most 255, at most 32 attributes (the device package's limits).
const (
	hexSize       = 64
	maxClass      = 64
	maxKindName   = 16
	maxAttributes = 32
	maxAttrValue  = 255
)

// Program is a compiled policy, safe for concurrent use.
type Program struct {
	src      *Source
	prg      cel.Program
	estimate checker.CostEstimate
	limit    uint64
	uses     map[string]bool
}

// Uses reports whether the expression reads the input variable name
// ("history.in_window"): a caller may skip computing the others, whose
// values cannot change the verdict.
func (p *Program) Uses(name string) bool { return p.uses[name] }

// Source is the policy the program was compiled from.
func (p *Program) Source() *Source { return p.src }

// EstimatedCost is the install-time cost bound (min and max).
func (p *Program) EstimatedCost() (uint64, uint64) { return p.estimate.Min, p.estimate.Max }

// cache holds compiled programs by the hash of their canonical source and
// limits: a policy is parsed, checked and planned once, and a thousand
// device policies with one text share one program.
var cache = struct {
	sync.Mutex
	programs map[[32]byte]*Program
}{programs: map[[32]byte]*Program{}}

// maxCached bounds the cache; past it, programs are compiled uncached
// (correct, only slower), so junk policies cannot grow memory for ever.
const maxCached = 4096

// Compile checks src under the limits and returns its program. Errors are
// *Error (CodeInvalid, CodeTooCostly) or wrap ErrSource.
func Compile(src *Source, lim Limits) (*Program, error) {
	if err := src.Validate(); err != nil {
		return nil, err
	}
	if lim.CostLimit == 0 {
		lim.CostLimit = DefaultCostLimit
	}
	key := cacheKey(src, lim)
	cache.Lock()
	p := cache.programs[key]
	cache.Unlock()
	if p != nil {
		return p, nil
	}
	p, err := compile(src, lim, lim.CostLimit)
	if err != nil {
		return nil, err
	}
	cache.Lock()
	if len(cache.programs) < maxCached {
		cache.programs[key] = p
	}
	cache.Unlock()
	return p, nil
}

func cacheKey(src *Source, lim Limits) [32]byte {
	h := blake3.New()
	h.Write(src.Encode())
	fmt.Fprintf(h, "|%d|%d", lim.MaxPayload, lim.CostLimit)
	var k [32]byte
	h.Sum(k[:0])
	return k
}

// envs are the CEL environments, one per set of readable groups.
var envs struct {
	once sync.Once
	env  [readAll + 1]*cel.Env
	err  error
}

// Variables are declared with qualified names ("tx.size"), so an
// expression reads like field access while each input stays a typed,
// separately resolved variable: a policy pays only for what it reads.
var groupVars = map[Reads][]cel.EnvOption{
	ReadTx: {
		cel.Variable("tx.kind", cel.StringType),
		cel.Variable("tx.seq", cel.IntType),
		cel.Variable("tx.time", cel.TimestampType),
		cel.Variable("tx.size", cel.IntType),
		cel.Variable("tx.payload", cel.BytesType),
		cel.Variable("tx.issuer", cel.StringType),
		cel.Variable("tx.target", cel.StringType),
	},
	ReadDevice: {
		cel.Variable("device.id", cel.StringType),
		cel.Variable("device.class", cel.StringType),
		cel.Variable("device.owner", cel.StringType),
		cel.Variable("device.state", cel.StringType),
		cel.Variable("device.key", cel.StringType),
		cel.Variable("device.attributes", cel.MapType(cel.StringType, cel.StringType)),
		cel.Variable("device.firmware", cel.IntType),
	},
	ReadHistory: {
		cel.Variable("history.count", cel.IntType),
		cel.Variable("history.last_time", cel.TimestampType),
		cel.Variable("history.in_window", cel.IntType),
	},
}

// inputNames are the declared variables' names.
var inputNames = map[string]bool{
	"tx.kind": true, "tx.seq": true, "tx.time": true, "tx.size": true, "tx.payload": true, "tx.issuer": true, "tx.target": true,
	"device.id": true, "device.class": true, "device.owner": true, "device.state": true, "device.key": true,
	"device.attributes": true, "device.firmware": true,
	"history.count": true, "history.last_time": true, "history.in_window": true,
}

func envFor(reads Reads) (*cel.Env, error) {
	envs.once.Do(func() {
		for r := Reads(1); r <= readAll; r++ {
			opts := []cel.EnvOption{
				cel.CostModelVersion(CostModelVersion),
				cel.DefaultUTCTimeZone(true),
				// Deeply nested macros and huge sources stop in the
				// parser, before any checking.
				cel.ParserRecursionLimit(32),
				cel.ParserExpressionSizeLimit(MaxExpr),
			}
			for _, g := range readNames {
				if r&g.bit != 0 {
					opts = append(opts, groupVars[g.bit]...)
				}
			}
			env, err := cel.NewEnv(opts...)
			if err != nil {
				envs.err = err
				return
			}
			envs.env[r] = env
		}
	})
	if envs.err != nil {
		return nil, envs.err
	}
	return envs.env[reads], nil
}

// compile checks src against lim and builds a program that stops at
// runtimeLimit (the same limit, except in the test of the run-time stop).
func compile(src *Source, lim Limits, runtimeLimit uint64) (*Program, error) {
	env, err := envFor(src.Reads)
	if err != nil {
		return nil, err
	}
	checked, iss := env.Compile(src.Expr)
	if iss.Err() != nil {
		return nil, invalid("%s", strings.TrimSpace(iss.Err().Error()))
	}
	if !checked.OutputType().IsExactType(types.BoolType) {
		return nil, invalid("the expression is of type %s, not bool", checked.OutputType())
	}
	native := checked.NativeRep()
	if err := forbidden(native); err != nil {
		return nil, err
	}
	est, err := env.EstimateCost(checked, sizes{maxPayload: uint64(max(lim.MaxPayload, 0))})
	if err != nil {
		return nil, invalid("cost estimate: %v", err)
	}
	if est.Max == math.MaxUint64 {
		return nil, &Error{Code: CodeTooCostly, Message: "the cost of the expression is unbounded"}
	}
	if est.Max > lim.CostLimit {
		return nil, &Error{Code: CodeTooCostly, Message: fmt.Sprintf("estimated cost up to %d, over the network's limit of %d", est.Max, lim.CostLimit)}
	}
	prg, err := env.Program(checked,
		cel.EvalOptions(cel.OptOptimize),
		cel.CostLimit(runtimeLimit),
	)
	if err != nil {
		return nil, invalid("%v", err)
	}
	uses := map[string]bool{}
	for _, ref := range native.ReferenceMap() {
		if inputNames[ref.Name] && len(ref.OverloadIDs) == 0 {
			uses[ref.Name] = true
		}
	}
	return &Program{src: src, prg: prg, estimate: est, limit: runtimeLimit, uses: uses}, nil
}

// forbidden walks the checked expression for what would make a verdict
// differ between nodes or a cost explode.
func forbidden(a *ast.AST) error {
	var err error
	visit := ast.NewExprVisitor(func(e ast.Expr) {
		if err != nil {
			return
		}
		switch e.Kind() {
		case ast.ComprehensionKind:
			c := e.AsComprehension()
			t := a.GetType(c.IterRange().ID())
			if t == nil || t.Kind() != types.ListKind {
				err = invalid("iterating over a %s is not allowed: map order is not stable across nodes (use a list, or test keys with 'in')", typeName(t))
			}
		case ast.CallKind:
			call := e.AsCall()
			for _, id := range a.GetOverloadIDs(e.ID()) {
				if strings.Contains(id, "_tz") {
					err = invalid("%s with a time zone reads the host's time-zone database; use UTC (the default) and durations", call.FunctionName())
					return
				}
			}
			if call.FunctionName() == overloads.Matches {
				args := call.Args()
				pattern := args[len(args)-1]
				if pattern.Kind() != ast.LiteralKind {
					err = invalid("matches needs a literal pattern, so its cost is known at install")
				}
			}
		}
	})
	ast.PreOrderVisit(a.Expr(), visit)
	return err
}

func typeName(t *types.Type) string {
	if t == nil {
		return "value of unknown type"
	}
	return t.String()
}

// sizes is the cost estimate's size hints: the largest each input can be.
type sizes struct{ maxPayload uint64 }

func (s sizes) EstimateSize(n checker.AstNode) *checker.SizeEstimate {
	path := n.Path()
	if len(path) == 0 {
		return nil
	}
	bound := func(max uint64) *checker.SizeEstimate { return &checker.SizeEstimate{Min: 0, Max: max} }
	switch strings.Join(path, ".") {
	case "tx.payload":
		return bound(s.maxPayload)
	case "tx.kind", "device.state":
		return bound(maxKindName)
	case "tx.issuer", "tx.target", "device.id", "device.owner", "device.key":
		return bound(hexSize)
	case "device.class":
		return bound(maxClass)
	case "device.attributes":
		return bound(maxAttributes)
	case "device.attributes.@keys":
		return bound(maxClass)
	case "device.attributes.@values":
		return bound(maxAttrValue)
	}
	return nil
}

func (sizes) EstimateCallCost(function, overloadID string, target *checker.AstNode, args []checker.AstNode) *checker.CallEstimate {
	return nil
}

// IsCode reports whether err is a policy *Error with the code.
func IsCode(err error, code string) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}
