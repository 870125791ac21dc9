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
	// Authorities may register devices (used by the device layer).
	Authorities []PublicKey `json:"authorities,omitempty"`
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
