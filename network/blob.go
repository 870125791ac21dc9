package network

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
)

// BlobSource is where a node finds the firmware images it serves to
// peers: content-addressed by SHA-256 digest, checked on every open.
type BlobSource interface {
	// OpenBlob returns the image with digest and its size; the caller
	// closes it. An error means this node cannot serve it.
	OpenBlob(digest [32]byte) (io.ReadCloser, int64, error)
}

// A blob stream carries one request (digest [32] | size u64) and one
// answer: blobHave followed by exactly size bytes, or blobMissing. The
// size is the one the release signed: a peer asks only for an image a
// release in its ledger names, and a peer that holds another size (it
// cannot, for a digest it checked) answers missing.
const (
	blobRequestSize = 32 + 8
	blobHave        = 0
	blobMissing     = 1
)

// ErrBlobUnavailable: no connected peer served the image.
var ErrBlobUnavailable = errors.New("network: no peer has the image")

// ServeBlobs makes this node answer peers' image requests from src. Call
// it before Run; without it every request is answered missing.
func (n *Network) ServeBlobs(src BlobSource) { n.blobs = src }

// FetchBlob asks the connected peers, one after the other in key order,
// for the image with digest and the signed size, and streams the first
// answer into sink (typically the blob store's checked Put, which refuses
// bytes that do not hash to the digest). sink is called at most once per
// peer, with a reader of exactly size bytes; when it fails, the next peer
// is asked. The error of the last peer tried is returned, wrapping
// ErrBlobUnavailable.
func (n *Network) FetchBlob(ctx context.Context, digest [32]byte, size int64, sink func(io.Reader) error) error {
	n.mu.Lock()
	sessions := slices.Clone(n.sessions)
	n.mu.Unlock()
	slices.SortFunc(sessions, func(a, b *session) int { return bytes.Compare(a.peer.key[:], b.peer.key[:]) })
	last := errors.New("no peer connected")
	for _, s := range sessions {
		err := s.fetchBlob(ctx, digest, size, sink)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		last = fmt.Errorf("peer %s: %w", s.peer.key, err)
	}
	return fmt.Errorf("%w %x: %w", ErrBlobUnavailable, digest, last)
}

func (s *session) fetchBlob(ctx context.Context, digest [32]byte, size int64, sink func(io.Reader) error) error {
	st, err := s.conn.OpenStream(ctx)
	if err != nil {
		return err
	}
	defer st.Abort()
	stop := context.AfterFunc(ctx, st.Abort)
	defer stop()
	req := appendPreamble(nil, purposeBlob)
	req = append(req, digest[:]...)
	req = binary.BigEndian.AppendUint64(req, uint64(size))
	if err := s.write(st, req); err != nil {
		return err
	}
	if err := st.Close(); err != nil {
		return err
	}
	var status [1]byte
	if _, err := io.ReadFull(st, status[:]); err != nil {
		return err
	}
	if status[0] != blobHave {
		return errors.New("the peer does not have it")
	}
	body := countingReader{io.LimitReader(st, size), &s.peer.traffic.bytesIn}
	return sink(body)
}

// serveBlob answers one blob request.
func (s *session) serveBlob(st Stream) error {
	var req [blobRequestSize]byte
	if _, err := io.ReadFull(st, req[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return s.violation(fmt.Errorf("%w: truncated blob request", ErrProtocol))
		}
		return s.quiet(err)
	}
	s.allowFrame()
	digest, size := [32]byte(req[:32]), int64(binary.BigEndian.Uint64(req[32:]))
	var f io.ReadCloser
	var have int64
	if src := s.n.blobs; src != nil {
		var err error
		if f, have, err = src.OpenBlob(digest); err != nil {
			f = nil
		}
	}
	if f == nil || have != size {
		if f != nil {
			_ = f.Close()
		}
		return s.write(st, []byte{blobMissing})
	}
	defer f.Close()
	if err := s.write(st, []byte{blobHave}); err != nil {
		return s.quiet(err)
	}
	n, err := io.Copy(st, f)
	s.peer.traffic.bytesOut.Add(uint64(n))
	if err != nil {
		return s.quiet(err)
	}
	return nil
}
