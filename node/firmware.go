package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sync"

	"github.com/tangled-ledger/tangled/api"
	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/storage"
)

// DefaultFirmwareImageMax is the largest firmware image a node hosts when
// Config.FirmwareImageMax is zero: big enough for a Linux gateway's
// root file system update, small enough that a few releases fit any data
// directory.
const DefaultFirmwareImageMax = 256 << 20

// firmwareDir is where hosted images live, under the data directory.
const firmwareDir = "firmware"

// openImages opens the image store when the network has authorities (a
// network without them has no releases, so no images).
func (n *Node) openImages() error {
	if n.registry == nil {
		return nil
	}
	b, err := storage.OpenBlobs(filepath.Join(n.cfg.DataDir, firmwareDir))
	if err != nil {
		return err
	}
	n.images = b
	return nil
}

// servePeersImages lets peers fetch the images this node hosts.
func (n *Node) servePeersImages() {
	if n.net != nil && n.images != nil {
		n.net.ServeBlobs(peerImages{n.images})
	}
}

// peerImages serves network blob requests from the image store.
type peerImages struct{ b *storage.Blobs }

func (p peerImages) OpenBlob(digest [32]byte) (io.ReadCloser, int64, error) {
	return p.b.Open(digest)
}

func (n *Node) imageLimit() int64 {
	if n.cfg.FirmwareImageMax > 0 {
		return n.cfg.FirmwareImageMax
	}
	return DefaultFirmwareImageMax
}

// ImageSize implements api.FirmwareImages.
func (b apiBackend) ImageSize(digest [32]byte) (uint64, bool) {
	if b.registry == nil || b.images == nil {
		return 0, false
	}
	return b.registry.ImageSize(digest)
}

// ImageLimit implements api.FirmwareImages.
func (b apiBackend) ImageLimit() int64 { return b.imageLimit() }

// PutImage implements api.FirmwareImages.
func (b apiBackend) PutImage(digest [32]byte, size int64, r io.Reader) error {
	if b.images == nil {
		return &api.ImageError{Code: "not_found", Message: "node: this node hosts no firmware images"}
	}
	return imageError(b.images.Put(digest, size, r))
}

// OpenImage implements api.FirmwareImages: the local copy, or the first
// peer's that hashes to the digest at the signed size.
func (b apiBackend) OpenImage(ctx context.Context, digest [32]byte, size int64) (io.ReadSeekCloser, error) {
	if b.images == nil {
		return nil, &api.ImageError{Code: "not_found", Message: "node: this node hosts no firmware images"}
	}
	f, have, err := b.images.Open(digest)
	if err == nil && have == size {
		return f, nil
	}
	if err == nil {
		_ = f.Close()
	}
	if err != nil && !errors.Is(err, storage.ErrBlobNotFound) && !errors.Is(err, storage.ErrBlobCorrupt) {
		return nil, err
	}
	if b.net == nil {
		return nil, &api.ImageError{Code: "not_found", Message: fmt.Sprintf("node: image %x is not stored here and this node has no peers", digest)}
	}
	err = b.net.FetchBlob(ctx, digest, size, func(r io.Reader) error { return b.images.Put(digest, size, r) })
	if err != nil {
		return nil, &api.ImageError{Code: "not_found", Message: fmt.Sprintf("node: image %x is not stored here: %v", digest, err)}
	}
	f, _, err = b.images.Open(digest)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// imageError gives the store's refusals the API's codes.
func imageError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, storage.ErrBlobDigest):
		return &api.ImageError{Code: "digest_mismatch", Message: err.Error()}
	case errors.Is(err, storage.ErrBlobTooLong):
		return &api.ImageError{Code: api.CodeImageTooLarge, Message: err.Error()}
	case errors.Is(err, storage.ErrBlobSize):
		return &api.ImageError{Code: api.CodeImageSizeMismatch, Message: err.Error()}
	}
	return err
}

// confirmedHorizon is the horizon of everything this node has confirmed:
// the elementwise maximum of the horizons of its confirmed control
// transactions. The confirmed set is closed under the past, so this is
// the past of "all that is confirmed", a function of the confirmed set
// alone: two nodes that confirmed the same transactions judge the same
// release active, where the horizon of the single newest confirmed
// transaction can miss a confirmed approval on a concurrent branch (and
// stays that way on a quiet network).
type confirmedHorizon struct {
	mu sync.Mutex
	v  []uint64 // guarded by mu
	// newest is the latest issuing time among confirmed transactions
	// (guarded by mu): the ledger time the status is as of.
	newest int64
}

func (h *confirmedHorizon) saw(t int64) {
	h.mu.Lock()
	h.newest = max(h.newest, t)
	h.mu.Unlock()
}

func (h *confirmedHorizon) merge(v []uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.v) < len(v) {
		h.v = append(h.v, make([]uint64, len(v)-len(h.v))...)
	}
	for i, x := range v {
		h.v[i] = max(h.v[i], x)
	}
}

// trackConfirmedHorizon follows confirmations, and seeds the horizon from
// what the replay confirmed (or from what a clean shutdown saved, see
// checkpoint.go).
func (n *Node) trackConfirmedHorizon() {
	if n.registry == nil {
		return
	}
	n.ledger.Subscribe(func(e dag.Event) {
		if e.Kind == dag.EventConfirmed {
			n.fwHorizon.saw(e.Info.Time)
		}
		if e.Kind == dag.EventConfirmed && e.Info.Kind.Spec().Control {
			if v, ok := n.ledger.HorizonOf(e.Info.ID); ok {
				n.fwHorizon.merge(v)
			}
		}
	})
	if n.ledger.Restored() && n.loadHorizon() {
		return // saved with the checkpoint: no need to read the whole confirmed order
	}
	var ids []dag.ID
	for from := uint64(1); ; from += uint64(len(ids)) {
		ids = n.ledger.Confirmed(from, 4096, ids[:0])
		if len(ids) == 0 {
			return
		}
		for _, id := range ids {
			info, ok := n.ledger.Info(id)
			if ok {
				n.fwHorizon.saw(info.Time)
			}
			if ok && info.Kind.Spec().Control {
				if v, ok := n.ledger.HorizonOf(id); ok {
					n.fwHorizon.merge(v)
				}
			}
		}
	}
}

// ConfirmedHorizon is what GET /v1/firmware/{class} judges activity by,
// and the newest issuing time among confirmed transactions.
func (b apiBackend) ConfirmedHorizon() ([]uint64, int64) {
	b.fwHorizon.mu.Lock()
	defer b.fwHorizon.mu.Unlock()
	return append(make([]uint64, 0, len(b.fwHorizon.v)), b.fwHorizon.v...), b.fwHorizon.newest
}
