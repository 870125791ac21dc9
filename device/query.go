package device

import (
	"encoding/hex"
	"slices"

	"github.com/tangled-ledger/tangled/dag"
)

// State is a device's state string in the API: active, suspended,
// revoked or quarantined (two transactions with one sequence number are
// known; revoked wins over it).
func (d *device) state() string {
	life, _ := d.current()
	switch {
	case life == Revoked:
		return "revoked"
	case len(d.forks) > 0:
		return "quarantined"
	}
	return life.String()
}

// Hash is a 32-byte hash in lower-case hex.
type Hash [32]byte

// MarshalText encodes the hash as hex.
func (h Hash) MarshalText() ([]byte, error) { return []byte(hex.EncodeToString(h[:])), nil }

// UnmarshalText decodes 64 hex digits.
func (h *Hash) UnmarshalText(text []byte) error {
	var id dag.ID
	if err := id.UnmarshalText(text); err != nil {
		return err
	}
	*h = Hash(id)
	return nil
}

// KeyRecord is one key of a device's history.
type KeyRecord struct {
	Key dag.PublicKey `json:"key"`
	// Since is the first chain sequence number the key signs.
	Since uint64 `json:"since_seq"`
	// Transaction is the registration or rotation that introduced it.
	Transaction dag.ID `json:"transaction"`
	// NextKeyHash is the commitment to the key after it, if any.
	NextKeyHash *Hash `json:"next_key_hash,omitempty"`
}

// ControlRecord is one lifecycle action or transfer.
type ControlRecord struct {
	Kind        dag.Kind      `json:"kind"`
	Transaction dag.ID        `json:"transaction"`
	Authority   dag.PublicKey `json:"authority"`
	// To is the receiving authority of a transfer.
	To *dag.PublicKey `json:"to,omitempty"`
	// State is the device's lifecycle after the action.
	State string `json:"state"`
}

// Quarantine is the proof that a device's key signed two transactions
// with one sequence number: the two lowest IDs of the lowest forked
// sequence, and the validators' notices that make it binding.
type Quarantine struct {
	Seq          uint64   `json:"seq"`
	Transactions []dag.ID `json:"transactions"`
	Notices      []dag.ID `json:"notices"`
}

// Device is a snapshot of one device, as GET /v1/devices/{id} shows it.
type Device struct {
	ID           dag.ID            `json:"id"`
	Class        string            `json:"class"`
	Owner        dag.PublicKey     `json:"owner"`
	RegisteredBy dag.PublicKey     `json:"registered_by"`
	Attributes   map[string]string `json:"attributes"`
	State        string            `json:"state"`
	Key          dag.PublicKey     `json:"key"`
	Keys         []KeyRecord       `json:"keys"`
	Control      []ControlRecord   `json:"control"`
	Quarantine   *Quarantine       `json:"quarantine,omitempty"`
	// Transactions counts the device's chain transactions attached here
	// (after a restart of a node that prunes, the ones it kept); NextSeq
	// is the sequence number its next one takes.
	Transactions uint64 `json:"transactions"`
	NextSeq      uint64 `json:"next_seq"`
	// First is the chain's first transaction (absent before it exists).
	First *dag.ID `json:"first,omitempty"`
	// Policies are the ones that judge the device's next transaction when
	// its past holds everything attached here, widest scope first.
	Policies []PolicyRef `json:"policies"`
	// Firmware is the release sequence number of the device's newest ok
	// install report, and FirmwareRelease that release (absent before
	// its first report).
	Firmware        *uint64 `json:"firmware,omitempty"`
	FirmwareRelease *dag.ID `json:"firmware_release,omitempty"`
}

func hashPtr(h *[32]byte) *Hash {
	if h == nil {
		return nil
	}
	v := Hash(*h)
	return &v
}

// Device returns a snapshot of the device with this ID.
func (r *Registry) Device(id dag.ID) (Device, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	d := r.byID[id]
	if d == nil {
		return Device{}, false
	}
	return r.snapshot(d), true
}

// DeviceByKey returns the device a key was registered for or rotated to
// (the lowest ID if several); false if none.
func (r *Registry) DeviceByKey(key dag.PublicKey) (Device, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	found := r.deviceByKeyLocked(key)
	if found == nil {
		return Device{}, false
	}
	return r.snapshot(found), true
}

func (r *Registry) snapshot(d *device) Device {
	_, owner := d.current()
	out := Device{
		ID: d.id, Class: d.class, Owner: r.genesis.Authorities[owner].PublicKey,
		RegisteredBy: r.genesis.Authorities[d.regNamed].PublicKey,
		Attributes:   make(map[string]string, len(d.attrs)),
		State:        d.state(), Key: d.currentKey(),
		Keys:         []KeyRecord{{Key: d.key, Transaction: d.id, NextKeyHash: hashPtr(d.next)}},
		Control:      []ControlRecord{},
		Transactions: d.count,
	}
	for _, a := range d.attrs {
		out.Attributes[a.Key] = a.Value
	}
	for _, rot := range d.rotations {
		out.Keys = append(out.Keys, KeyRecord{Key: rot.key, Since: rot.seq + 1, Transaction: rot.id, NextKeyHash: hashPtr(rot.next)})
	}
	for _, a := range d.actions {
		rec := ControlRecord{Kind: a.kind, Transaction: a.id, Authority: r.genesis.Authorities[a.named].PublicKey, State: a.life.String()}
		if a.kind == dag.KindTransfer {
			to := r.genesis.Authorities[a.to].PublicKey
			rec.To = &to
		}
		out.Control = append(out.Control, rec)
	}
	if len(d.forks) > 0 {
		f := d.forks[0]
		q := &Quarantine{Seq: f.seq, Transactions: append([]dag.ID(nil), f.ids[:2]...), Notices: []dag.ID{}}
		for _, n := range d.notices {
			q.Notices = append(q.Notices, n.id)
		}
		slices.SortFunc(q.Notices, dag.ID.Compare)
		out.Quarantine = q
	}
	out.Policies = []PolicyRef{}
	for _, set := range r.scopesOf(d) {
		if p := set.newest(); p != nil {
			out.Policies = append(out.Policies, r.ref(p))
		}
	}
	if fw, ok := d.firmwareAt(^uint64(0)); ok {
		out.Firmware = &fw
		for i := len(d.installs) - 1; i >= 0; i-- {
			if in := d.installs[i]; in.result == InstallOK {
				id := in.release.id
				out.FirmwareRelease = &id
				break
			}
		}
	}
	if d.started {
		out.NextSeq = d.headSeq + 1
		first := d.first
		out.First = &first
	}
	return out
}

// AuthorityInfo is one genesis authority, as GET /v1/authorities shows it.
type AuthorityInfo struct {
	Name      string        `json:"name,omitempty"`
	PublicKey dag.PublicKey `json:"public_key"`
	Classes   []string      `json:"classes"`
	// Devices counts the devices it owns now.
	Devices int `json:"devices"`
}

// Authorities lists the genesis authorities in genesis order.
func (r *Registry) Authorities() []AuthorityInfo {
	r.mu.RLock()
	defer r.mu.RUnlock()
	owned := make([]int, r.authorities)
	for _, d := range r.devices {
		_, owner := d.current()
		owned[owner]++
	}
	out := make([]AuthorityInfo, r.authorities)
	for i, a := range r.genesis.Authorities {
		out[i] = AuthorityInfo{Name: a.Name, PublicKey: a.PublicKey, Classes: append([]string{}, a.Classes...), Devices: owned[i]}
	}
	return out
}

// Permissioned reports whether only registered devices may write.
func (r *Registry) Permissioned() bool { return r.permissioned }

// ChainReader is what History reads of the ledger: a transaction and its
// first chain successor.
type ChainReader interface {
	Info(id dag.ID) (dag.Info, bool)
	Successor(id dag.ID) (dag.ID, bool)
}

// HistoryQuery selects part of a device's history: sequence numbers from
// FromSeq to ToSeq (inclusive, ToSeq 0 meaning no bound), issuing times
// from FromTime to ToTime (unix ns, inclusive, 0 meaning no bound), at
// most Limit items.
type HistoryQuery struct {
	FromSeq, ToSeq   uint64
	FromTime, ToTime int64
	Limit            int
}

// History lists the device's chain transactions in its canonical order:
// by sequence number, and where the chain forks (a quarantined device) the
// branch of the lowest ID, with every fork's other transactions listed
// right after it. It returns the items and the sequence number to resume
// from (0 when the listing is complete).
func (r *Registry) History(id dag.ID, q HistoryQuery, chain ChainReader) ([]dag.Info, uint64, bool) {
	r.mu.RLock()
	d := r.byID[id]
	if d == nil {
		r.mu.RUnlock()
		return nil, 0, false
	}
	started, first := d.started, d.first
	forks := make(map[uint64][]dag.ID, len(d.forks))
	for _, f := range d.forks {
		forks[f.seq] = append([]dag.ID(nil), f.ids...)
	}
	r.mu.RUnlock()
	if !started {
		return []dag.Info{}, 0, true
	}
	items := []dag.Info{}
	cur, ok := first, true
	for ok {
		info, known := chain.Info(cur)
		if !known {
			break
		}
		if q.ToSeq != 0 && info.Seq > q.ToSeq || q.ToTime != 0 && info.Time > q.ToTime {
			break
		}
		batch := []dag.ID{cur}
		if ids := forks[info.Seq]; len(ids) > 0 {
			batch = ids // the lowest first: cur is ids[0] on the canonical branch
			cur = ids[0]
		}
		if info.Seq >= q.FromSeq && info.Time >= q.FromTime {
			if q.Limit > 0 && len(items)+len(batch) > q.Limit && len(items) > 0 {
				return items, info.Seq, true
			}
			for _, bid := range batch {
				if bi, ok := chain.Info(bid); ok {
					items = append(items, bi)
				}
			}
		}
		cur, ok = chain.Successor(cur)
	}
	return items, 0, true
}

// LatestControl is the control transaction a transaction of key's device
// chain must see to be judged by the device's current state: a quarantine
// notice of a device that is not revoked, else its newest lifecycle action,
// else its registration. False when key
// belongs to no device.
func (r *Registry) LatestControl(key dag.PublicKey) (dag.ID, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	d := r.deviceByKeyLocked(key)
	if d == nil {
		return dag.ID{}, false
	}
	life, _ := d.current()
	if len(d.notices) > 0 && life != Revoked {
		return d.notices[0].id, true // quarantined: that is what rules now
	}
	if n := len(d.actions); n > 0 {
		return d.actions[n-1].id, true
	}
	return d.id, true
}

// deviceByKeyLocked finds the device key was registered for (lowest ID)
// or, failing that, the device it signs for now.
func (r *Registry) deviceByKeyLocked(key dag.PublicKey) *device {
	var found *device
	r.registrationsOf(key, func(d *device) {
		if found == nil || d.id.Compare(found.id) < 0 {
			found = d
		}
	})
	if found == nil {
		return r.rotatedTo[key]
	}
	return found
}
