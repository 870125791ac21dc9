package node

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/tangled-ledger/tangled/client"
	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/pow"
)

// GenesisFile is the genesis file name inside a genesis or data directory.
const GenesisFile = "genesis.json"

// ValidatorKeyFile names validator i's key file (1-based).
func ValidatorKeyFile(i int) string { return fmt.Sprintf("validator-%d.key", i) }

// AuthorityKeyFile names authority i's key file (1-based).
func AuthorityKeyFile(i int) string { return fmt.Sprintf("authority-%d.key", i) }

// DefaultAuthorityClasses are the device classes of a new genesis's
// authorities when GenesisOptions names none.
var DefaultAuthorityClasses = []string{"sensor"}

// GenesisOptions shape a new network. Zero values mean defaults.
type GenesisOptions struct {
	// NetworkID zero means "tangled-" followed by random hex.
	NetworkID string
	// Validators is the number of validators (default 1), each of weight 1.
	Validators int
	// Difficulty zero means pow.DefaultRules().
	Difficulty *pow.Rules
	// Time zero means now.
	Time time.Time
	// Authorities is the number of device authorities (default none),
	// named authority-1 ... and each allowed Classes.
	Authorities int
	// Classes are the device classes every authority may register; nil
	// means DefaultAuthorityClasses.
	Classes []string
	// Permissioned: only registered, active devices may write. It needs
	// an authority.
	Permissioned bool
	// PolicyCostLimit is the access policies' cost limit (zero: the
	// device layer's default).
	PolicyCostLimit uint64
}

// NewGenesis writes dir/genesis.json, one key file per validator
// (dir/validator-1.key, ...) and one per authority (dir/authority-1.key,
// ...). It refuses to overwrite an existing genesis.
func NewGenesis(dir string, opts GenesisOptions) (*dag.Genesis, error) {
	if opts.Validators == 0 {
		opts.Validators = 1
	}
	if opts.Validators < 0 || opts.Validators > dag.MaxValidators {
		return nil, fmt.Errorf("node: %d validators, want 1 to %d", opts.Validators, dag.MaxValidators)
	}
	if opts.Authorities < 0 || opts.Authorities > dag.MaxAuthorities {
		return nil, fmt.Errorf("node: %d authorities, want 0 to %d", opts.Authorities, dag.MaxAuthorities)
	}
	if opts.Classes == nil {
		opts.Classes = DefaultAuthorityClasses
	}
	if opts.NetworkID == "" {
		var b [4]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, err
		}
		opts.NetworkID = "tangled-" + hex.EncodeToString(b[:])
	}
	if opts.Time.IsZero() {
		opts.Time = time.Now().UTC().Truncate(time.Second)
	}
	rules := pow.DefaultRules()
	if opts.Difficulty != nil {
		rules = *opts.Difficulty
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	path := filepath.Join(dir, GenesisFile)
	if _, err := os.Stat(path); err == nil {
		return nil, fmt.Errorf("node: %s already exists", path)
	}
	g := &dag.Genesis{NetworkID: opts.NetworkID, Time: opts.Time.UTC(), Difficulty: rules, Permissioned: opts.Permissioned,
		PolicyCostLimit: opts.PolicyCostLimit}
	newKey := func() (ed25519.PrivateKey, dag.PublicKey, error) {
		key, err := client.GenerateKey()
		var pk dag.PublicKey
		if err == nil {
			copy(pk[:], key.Public().(ed25519.PublicKey))
		}
		return key, pk, err
	}
	keys := make([]ed25519.PrivateKey, opts.Validators)
	for i := range keys {
		key, pk, err := newKey()
		if err != nil {
			return nil, err
		}
		keys[i] = key
		g.Validators = append(g.Validators, dag.Validator{Name: fmt.Sprintf("validator-%d", i+1), PublicKey: pk, Weight: 1})
	}
	authKeys := make([]ed25519.PrivateKey, opts.Authorities)
	for i := range authKeys {
		key, pk, err := newKey()
		if err != nil {
			return nil, err
		}
		authKeys[i] = key
		g.Authorities = append(g.Authorities, dag.Authority{
			Name: fmt.Sprintf("authority-%d", i+1), PublicKey: pk, Classes: append([]string(nil), opts.Classes...),
		})
	}
	if err := g.Validate(); err != nil {
		return nil, err
	}
	for i, key := range keys {
		if err := client.SaveKey(filepath.Join(dir, ValidatorKeyFile(i+1)), key, false); err != nil {
			return nil, err
		}
	}
	for i, key := range authKeys {
		if err := client.SaveKey(filepath.Join(dir, AuthorityKeyFile(i+1)), key, false); err != nil {
			return nil, err
		}
	}
	data, err := json.MarshalIndent(g, "", "  ")
	if err != nil {
		return nil, err
	}
	// The genesis is written last and atomically: a directory with a
	// genesis.json always has its keys.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o644); err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	return g, nil
}

// devNetwork returns the data directory's development network, creating it
// on first start.
func devNetwork(dataDir string) (genesisPath, keyPath string, err error) {
	genesisPath = filepath.Join(dataDir, GenesisFile)
	keyPath = filepath.Join(dataDir, ValidatorKeyFile(1))
	if _, err := os.Stat(genesisPath); err == nil {
		return genesisPath, keyPath, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", "", fmt.Errorf("node: %w", err)
	}
	if _, err := NewGenesis(dataDir, GenesisOptions{NetworkID: "tangled-dev"}); err != nil {
		return "", "", err
	}
	return genesisPath, keyPath, nil
}
