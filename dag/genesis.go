package dag

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/zeebo/blake3"

	"github.com/tangled-ledger/tangled/pow"
)

// MaxValidators bounds the validator set: a transaction's approving
// validators are kept as one 64-bit set, which keeps propagation a few
// instructions per transaction.
const MaxValidators = 64

// DefaultMaxPayload is the payload maximum of a genesis that names none.
const DefaultMaxPayload = 4096

// Validator is a node identity whose beacons carry confirmation weight.
type Validator struct {
	Name      string    `json:"name,omitempty"`
	PublicKey PublicKey `json:"public_key"`
	Weight    uint64    `json:"weight"`
}

// Threshold is the fraction of the total validator weight that approval
// weight must exceed for confirmation. A fraction, not a float, so that
// every node computes the same verdict.
type Threshold struct {
	Numerator   uint64 `json:"numerator"`
	Denominator uint64 `json:"denominator"`
}

// DefaultThreshold is two thirds.
var DefaultThreshold = Threshold{Numerator: 2, Denominator: 3}

// Genesis describes a network: its identity, validator set, confirmation
// rule and validity parameters. Every node of a network holds the same one.
type Genesis struct {
	NetworkID  string      `json:"network_id"`
	Time       time.Time   `json:"time"`
	Validators []Validator `json:"validators"`
	// Threshold zero means DefaultThreshold.
	Threshold Threshold `json:"confirmation_threshold"`
	// MaxPayload zero means DefaultMaxPayload.
	MaxPayload int       `json:"max_payload"`
	Difficulty pow.Rules `json:"difficulty"`
	// Authorities are the manufacturers and fleet owners whose control
	// transactions register and govern devices (the device layer).
	Authorities []Authority `json:"authorities,omitempty"`
	// Permissioned networks accept data only from registered, active
	// devices; open ones (the default) from any key that does the work.
	Permissioned bool `json:"permissioned,omitempty"`
	// PolicyCostLimit bounds every access policy's cost in cel-go units,
	// estimated at install and enforced at evaluation; zero means the
	// device layer's default (1,000, about 50 µs).
	PolicyCostLimit uint64 `json:"policy_cost_limit,omitempty"`
	// FirmwareApprovals names, per device class, the approvers whose
	// co-signatures a firmware release needs before it is active (TUF's
	// threshold of signatures, held in the root of trust: a manufacturer
	// key alone cannot lower it). Classes not listed need none.
	FirmwareApprovals []FirmwareApproval `json:"firmware_approvals,omitempty"`
}

// FirmwareApproval is one class's k-of-n rule: Threshold of the
// Approvers (genesis authorities' public keys) must approve a release.
type FirmwareApproval struct {
	Class     string      `json:"class"`
	Approvers []PublicKey `json:"approvers"`
	Threshold int         `json:"threshold"`
}

// ApprovalRule returns the class's rule (false when it needs none).
func (g *Genesis) ApprovalRule(class string) (FirmwareApproval, bool) {
	for _, r := range g.FirmwareApprovals {
		if r.Class == class {
			return r, true
		}
	}
	return FirmwareApproval{}, false
}

// MaxAuthorities bounds the authorities of a genesis: each transaction
// carries, per authority and validator, the newest control transaction of
// theirs in its past (see Ledger), so the set is kept small.
const MaxAuthorities = 64

// Authority is an issuer of control transactions: it registers devices of
// its classes and suspends, resumes, revokes or transfers the ones it owns.
type Authority struct {
	Name      string    `json:"name,omitempty"`
	PublicKey PublicKey `json:"public_key"`
	// Classes are the device classes it may register and receive. The
	// wildcard AllClasses stands for every class, and also lets the
	// authority set network-wide policies.
	Classes []string `json:"classes"`
}

// AllClasses is the class wildcard of an authority's Classes.
const AllClasses = "*"

// MayActOn reports whether the authority's classes include class.
func (a Authority) MayActOn(class string) bool {
	for _, c := range a.Classes {
		if c == class || c == AllClasses {
			return true
		}
	}
	return false
}

// Named returns the index of key among the genesis issuers whose control
// transactions the ledger tracks in every transaction's past: authorities
// first (0 ... len(Authorities)-1), then validators.
func (g *Genesis) Named(key PublicKey) (int, bool) {
	for i, a := range g.Authorities {
		if a.PublicKey == key {
			return i, true
		}
	}
	for i, v := range g.Validators {
		if v.PublicKey == key {
			return len(g.Authorities) + i, true
		}
	}
	return 0, false
}

// ValidClass reports whether s is a well-formed device class name: 1 to
// 64 characters from a-z, 0-9, '.', '_' and '-'.
func ValidClass(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// withDefaults returns g with zero values replaced by their defaults.
func (g Genesis) withDefaults() Genesis {
	if g.Threshold == (Threshold{}) {
		g.Threshold = DefaultThreshold
	}
	if g.MaxPayload == 0 {
		g.MaxPayload = DefaultMaxPayload
	}
	return g
}

// Validate checks the description.
func (g *Genesis) Validate() error {
	d := g.withDefaults()
	switch {
	case d.NetworkID == "":
		return fmt.Errorf("%w: empty network id", ErrGenesis)
	case len(d.Validators) == 0:
		return fmt.Errorf("%w: no validators", ErrGenesis)
	case len(d.Validators) > MaxValidators:
		return fmt.Errorf("%w: %d validators, at most %d", ErrGenesis, len(d.Validators), MaxValidators)
	case d.Threshold.Denominator == 0 || d.Threshold.Numerator >= d.Threshold.Denominator:
		return fmt.Errorf("%w: threshold %d/%d must be below 1", ErrGenesis, d.Threshold.Numerator, d.Threshold.Denominator)
	case d.MaxPayload < 0 || d.MaxPayload > MaxPayloadLimit:
		return fmt.Errorf("%w: max payload %d outside [0, %d]", ErrGenesis, d.MaxPayload, MaxPayloadLimit)
	case d.Time.UnixNano() < 0:
		return fmt.Errorf("%w: time before 1970", ErrGenesis)
	}
	seen := make(map[PublicKey]bool, len(d.Validators))
	var total uint64
	for _, v := range d.Validators {
		if v.Weight == 0 {
			return fmt.Errorf("%w: validator %s has zero weight", ErrGenesis, v.PublicKey)
		}
		if seen[v.PublicKey] {
			return fmt.Errorf("%w: validator %s listed twice", ErrGenesis, v.PublicKey)
		}
		seen[v.PublicKey] = true
		if total+v.Weight < total || total+v.Weight > 1<<48 {
			return fmt.Errorf("%w: total validator weight too large", ErrGenesis)
		}
		total += v.Weight
	}
	if len(d.Authorities) > MaxAuthorities {
		return fmt.Errorf("%w: %d authorities, at most %d", ErrGenesis, len(d.Authorities), MaxAuthorities)
	}
	if d.Permissioned && len(d.Authorities) == 0 {
		return fmt.Errorf("%w: a permissioned network needs an authority to register its devices", ErrGenesis)
	}
	for _, a := range d.Authorities {
		if seen[a.PublicKey] {
			return fmt.Errorf("%w: authority %s listed twice or also a validator", ErrGenesis, a.PublicKey)
		}
		seen[a.PublicKey] = true
		if len(a.Classes) == 0 {
			return fmt.Errorf("%w: authority %s has no device classes", ErrGenesis, a.PublicKey)
		}
		classes := make(map[string]bool, len(a.Classes))
		for _, c := range a.Classes {
			if !(ValidClass(c) || c == AllClasses) || classes[c] {
				return fmt.Errorf("%w: authority %s: class %q is malformed or listed twice", ErrGenesis, a.PublicKey, c)
			}
			classes[c] = true
		}
	}
	ruled := map[string]bool{}
	for _, r := range d.FirmwareApprovals {
		if !ValidClass(r.Class) || ruled[r.Class] {
			return fmt.Errorf("%w: firmware approvals: class %q is malformed or listed twice", ErrGenesis, r.Class)
		}
		ruled[r.Class] = true
		if r.Threshold < 1 || r.Threshold > len(r.Approvers) {
			return fmt.Errorf("%w: firmware approvals of %q: threshold %d of %d approvers", ErrGenesis, r.Class, r.Threshold, len(r.Approvers))
		}
		seenApprover := map[PublicKey]bool{}
		for _, k := range r.Approvers {
			isAuthority := false
			for _, a := range d.Authorities {
				isAuthority = isAuthority || a.PublicKey == k
			}
			if !isAuthority || seenApprover[k] {
				return fmt.Errorf("%w: firmware approvals of %q: approver %s is not an authority, or listed twice", ErrGenesis, r.Class, k)
			}
			seenApprover[k] = true
		}
	}
	if err := d.Difficulty.Validate(); err != nil {
		return fmt.Errorf("%w: %v", ErrGenesis, err)
	}
	return nil
}

// ID is the genesis root: BLAKE3-256 of the canonical JSON form. Every
// ledger starts from a virtual, confirmed root with this ID, so the first
// transactions approve it and a transaction of another network never
// becomes solid here.
func (g *Genesis) ID() ID {
	canonical, err := json.Marshal(g.withDefaults())
	if err != nil {
		// Every field of Genesis marshals; this is unreachable.
		panic(fmt.Sprintf("dag: genesis does not marshal: %v", err))
	}
	return blake3.Sum256(canonical)
}

// TotalWeight is the sum of the validators' weights.
func (g *Genesis) TotalWeight() uint64 {
	var total uint64
	for _, v := range g.Validators {
		total += v.Weight
	}
	return total
}

// ParseGenesis decodes and validates a JSON genesis description.
func ParseGenesis(data []byte) (*Genesis, error) {
	var g Genesis
	if err := json.Unmarshal(data, &g); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrGenesis, err)
	}
	if err := g.Validate(); err != nil {
		return nil, err
	}
	return &g, nil
}

// LoadGenesis reads and validates a genesis file.
func LoadGenesis(path string) (*Genesis, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("dag: read genesis: %w", err)
	}
	return ParseGenesis(data)
}
