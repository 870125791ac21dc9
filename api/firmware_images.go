package api

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/tangled-ledger/tangled/device"
)

// FirmwareImages is the part of a Backend that hosts firmware images
// (issue 12): content-addressed by SHA-256 digest, accepted only as the
// bytes a release in the ledger signed. A backend without it serves no
// images (the endpoints answer not_found).
type FirmwareImages interface {
	// ImageSize is the size a release attached here signed for the
	// image with digest; false when no release names it.
	ImageSize(digest [32]byte) (uint64, bool)
	// ImageLimit is the largest image the node hosts, in bytes.
	ImageLimit() int64
	// PutImage stores the image from r, which must be exactly size bytes
	// hashing to digest; an *ImageError otherwise, and nothing stored.
	PutImage(digest [32]byte, size int64, r io.Reader) error
	// OpenImage returns the image, checked against its digest, from this
	// node's store or, when it lacks it, fetched from a peer and stored;
	// an *ImageError with code not_found when neither has it.
	OpenImage(ctx context.Context, digest [32]byte, size int64) (io.ReadSeekCloser, error)
}

// The image endpoints' codes besides the device layer's unknown_release
// and digest_mismatch.
const (
	// CodeImageTooLarge: the image is over the node's limit, or the body
	// goes on past the release's signed size (TUF's endless data).
	CodeImageTooLarge = "image_too_large"
	// CodeImageSizeMismatch: the body ended before the signed size.
	CodeImageSizeMismatch = "image_size_mismatch"
)

// ImageError is a FirmwareImages refusal with its code.
type ImageError struct {
	Code    string
	Message string
}

func (e *ImageError) Error() string { return e.Message }

func (s *Server) images() (FirmwareImages, bool) {
	fi, ok := s.backend.(FirmwareImages)
	return fi, ok
}

// parseDigest reads the path's digest: 64 lower-case hex digits.
func parseDigest(r *http.Request) ([32]byte, *apiError) {
	var d [32]byte
	raw := r.PathValue("digest")
	b, err := hex.DecodeString(raw)
	if err != nil || len(b) != 32 || hex.EncodeToString(b) != raw {
		return d, newError(codeMalformed, fmt.Sprintf("api: image digest %q: 64 lower-case hex digits (SHA-256)", raw))
	}
	return [32]byte(b), nil
}

// putImage is PUT /v1/firmware/images/{digest}: the upload is
// authenticated by the ledger, not by a session: only bytes that hash to
// a digest a release (signed by an authority of its class) names, at the
// size it signed, are stored.
func (s *Server) putImage(w http.ResponseWriter, r *http.Request) {
	digest, bad := parseDigest(r)
	if bad != nil {
		writeError(w, bad)
		return
	}
	fi, ok := s.images()
	if !ok {
		writeError(w, newError(codeNotFound, "api: this node hosts no firmware images"))
		return
	}
	size, ok := fi.ImageSize(digest)
	if !ok {
		writeError(w, newError(device.CodeUnknownRelease, fmt.Sprintf("api: no release in this node's ledger names image %x", digest)))
		return
	}
	if limit := fi.ImageLimit(); size > uint64(limit) {
		writeError(w, newError(CodeImageTooLarge, fmt.Sprintf("api: the release's image is %d bytes, this node hosts at most %d", size, limit)))
		return
	}
	if r.ContentLength > int64(size) {
		writeError(w, newError(CodeImageTooLarge, fmt.Sprintf("api: a body of %d bytes for an image the release signed as %d", r.ContentLength, size)))
		return
	}
	if err := fi.PutImage(digest, int64(size), r.Body); err != nil {
		writeError(w, imageErrorOf(err))
		return
	}
	writeJSON(w, http.StatusCreated, imageBody{Digest: device.Hash(digest), Size: size})
}

// imageBody answers an upload.
type imageBody struct {
	Digest device.Hash `json:"digest"`
	Size   uint64      `json:"size"`
}

// getImage is GET /v1/firmware/images/{digest}: the image, checked
// against its digest on every read, with HTTP range requests; fetched
// from a peer first when this node lacks it.
func (s *Server) getImage(w http.ResponseWriter, r *http.Request) {
	digest, bad := parseDigest(r)
	if bad != nil {
		writeError(w, bad)
		return
	}
	fi, ok := s.images()
	if !ok {
		writeError(w, newError(codeNotFound, "api: this node hosts no firmware images"))
		return
	}
	size, ok := fi.ImageSize(digest)
	if !ok {
		writeError(w, newError(codeNotFound, fmt.Sprintf("api: no release in this node's ledger names image %x", digest)))
		return
	}
	if limit := fi.ImageLimit(); size > uint64(limit) {
		writeError(w, newError(CodeImageTooLarge, fmt.Sprintf("api: the release's image is %d bytes, this node hosts at most %d", size, limit)))
		return
	}
	f, err := fi.OpenImage(r.Context(), digest, int64(size))
	if err != nil {
		writeError(w, imageErrorOf(err))
		return
	}
	defer f.Close()
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("X-Content-Type-Options", "nosniff")
	// The digest is the content: a strong validator, and the image at a
	// digest never changes.
	h.Set("ETag", strconv.Quote(hex.EncodeToString(digest[:])))
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	// No modification time: the ETag is the validator.
	http.ServeContent(w, r, "", time.Time{}, f)
}

func imageErrorOf(err error) *apiError {
	var ie *ImageError
	if errors.As(err, &ie) {
		return newError(ie.Code, ie.Message)
	}
	return errorOf(err)
}
