package client

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/device"
)

// Release is the device package's manifest, named here so that a
// publisher needs this package alone.
type Release = device.Release

// FirmwareError is a firmware update the client refuses on the device's
// side, before anything is installed: Code is stable (the constants
// below), Message for humans.
type FirmwareError struct {
	Code    string
	Message string
}

func (e *FirmwareError) Error() string { return "client: firmware: " + e.Code + ": " + e.Message }

// The device-side refusal codes of FetchFirmware; the ledger's own
// (firmware_rollback, wrong_target, digest_mismatch, release_requires)
// keep their names.
const (
	CodeNoActiveRelease = "no_active_release"
	CodeRollback        = device.CodeFirmwareRollback
	CodeWrongTarget     = device.CodeWrongTarget
	CodeDigestMismatch  = device.CodeDigestMismatch
	CodeReleaseRequires = device.CodeReleaseRequires
	// CodeWrongPrecursor: a differential image for another image than
	// the one the device runs.
	CodeWrongPrecursor = "wrong_precursor"
	// CodeReleaseExpired: the release's expiry (ledger time) is before
	// the confirmed point the status was taken at.
	CodeReleaseExpired = "release_expired"
	// CodeImageTooLarge: a source sent more than the signed size.
	CodeImageTooLarge = "image_too_large"
	// CodeImageUnavailable: no source delivered the signed bytes.
	CodeImageUnavailable = "image_unavailable"
	// CodeNotFresh: the freshness proof does not verify.
	CodeNotFresh = "not_fresh"
)

func firmwareError(code, format string, args ...any) error {
	return &FirmwareError{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Publish sends a release (a KindRelease transaction) for rel's class and
// component and returns its ID. The manifest is checked before anything
// is signed; the trunk is the line's newest release the node lists, so
// the ledger judges the new sequence number against it (a number that is
// not above it is firmware_rollback).
func (a *Authority) Publish(ctx context.Context, rel *Release) (dag.ID, error) {
	if err := rel.Validate(); err != nil {
		return dag.ID{}, fmt.Errorf("client: publish: %w", err)
	}
	fw, err := retry(ctx, a.c, func() (*Firmware, error) { return a.c.Firmware(ctx, rel.Class) })
	if err != nil {
		return dag.ID{}, fmt.Errorf("%w (looking up the releases of %s)", err, rel.Class)
	}
	// The ledger judges the number against the active release (an
	// unapproved one does not hold the line back).
	var newest *device.ReleaseInfo
	for i := range fw.Releases {
		if r := &fw.Releases[i]; r.Component == rel.Component && r.Active {
			newest = r
		}
	}
	if newest != nil {
		if rel.Seq <= newest.Seq {
			return dag.ID{}, firmwareError(CodeRollback, "release %d of %s/%s is not above release %d (%s)", rel.Seq, rel.Class, rel.Component, newest.Seq, newest.ID.Short())
		}
		return a.dev.SendWithTrunk(ctx, dag.KindRelease, rel.Encode(), newest.ID)
	}
	return a.dev.Send(ctx, dag.KindRelease, rel.Encode())
}

// Approve co-signs a release (a KindApproval transaction whose trunk is
// the release, which must be in its past).
func (a *Authority) Approve(ctx context.Context, release dag.ID) (dag.ID, error) {
	return a.dev.SendWithTrunk(ctx, dag.KindApproval, device.ApprovalPayload(release), release)
}

// UploadImage puts the image of a published release on the node (PUT
// /v1/firmware/images/{digest}). The node stores it only if a release in
// its ledger names the digest and the bytes are that release's: send it
// once the node has the release.
func (c *Client) UploadImage(ctx context.Context, image []byte) error {
	digest := device.ImageDigest(image)
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, c.url(imagePath(digest), nil), bytes.NewReader(image))
	if err != nil {
		return fmt.Errorf("client: upload image: %w", err)
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.opts.UserAgent)
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("client: upload image: %w", err)
	}
	defer drainClose(resp.Body)
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		return decodeAPIError(resp, c.opts.Now())
	}
	return nil
}

func imagePath(digest [32]byte) string { return fmt.Sprintf("/v1/firmware/images/%x", digest) }

// Release returns the manifest of the release transaction id.
func (c *Client) Release(ctx context.Context, id dag.ID) (*Release, error) {
	st, err := c.Transaction(ctx, id)
	if err != nil {
		return nil, err
	}
	if st.Transaction == nil || st.Transaction.Kind != dag.KindRelease {
		return nil, fmt.Errorf("client: %s is not a release", id.Short())
	}
	return device.DecodeRelease(st.Transaction.Payload)
}

// ReportInstall posts the device's install report (a KindInstall in its
// chain): what it installed, the digest it measured over the installed
// image, and whether it worked. The ledger wants the release and its
// approvals in the report's past, so the trunk is the node's newest
// confirmed point when that shows the release, else the release itself.
func (d *Device) ReportInstall(ctx context.Context, release dag.ID, measured [32]byte, result device.InstallResult) (dag.ID, error) {
	rel, err := retry(ctx, d.c, func() (*Release, error) { return d.c.Release(ctx, release) })
	if err != nil {
		return dag.ID{}, fmt.Errorf("%w (looking up release %s)", err, release.Short())
	}
	// The confirmed point names the release only when its past holds it,
	// which a status as of everything confirmed does not promise: a
	// report refused for what its past lacks is tried again on a newer
	// point, a few times.
	for attempt := 0; ; attempt++ {
		trunk := release
		if fw, err := d.c.Firmware(ctx, rel.Class); err == nil {
			for _, r := range fw.Releases {
				if r.ID == release {
					trunk = fw.AsOf
				}
			}
		}
		id, err := d.SendWithTrunk(ctx, dag.KindInstall, device.InstallPayload(release, measured, result), trunk)
		if attempt >= 9 || !(isCode(err, device.CodeUnknownRelease) || isCode(err, device.CodeReleaseNotActive)) {
			return id, err
		}
		if serr := sleep(ctx, 100*time.Millisecond); serr != nil {
			return id, err
		}
	}
}

// FetchOptions says what the device runs now, which the release must
// follow.
type FetchOptions struct {
	// Component is the release line (default "main").
	Component string
	// Installed is the sequence number the device runs (0: none);
	// a release at or below it is a rollback.
	Installed uint64
	// Current is the digest of the image the device runs, which a
	// differential release's precursor must be (nil: unknown, so a
	// release with a precursor is refused).
	Current *[32]byte
	// Sources are tried after the node when it does not have the image
	// (the release's URIs are tried last).
	Sources []string
	// Freshness, when set, proves the status current (see Freshness);
	// expiry is then judged against the proof's ledger time.
	Freshness *Freshness
}

// FetchFirmware downloads the class's active release to path and checks
// it as a device would before installing: the release is for the class
// and line, above what the device runs, not expired as of the confirmed
// point (ledger time, not this machine's clock), its precursor and
// required release are what the device has, and the bytes are the signed
// size and digest. The image is written to path+".part" and renamed to
// path only once it is complete and verified; a source that sends other
// bytes or more than the signed size is dropped and the next is tried.
// It returns the release it wrote.
func (c *Client) FetchFirmware(ctx context.Context, class, path string, opts FetchOptions) (*device.ReleaseInfo, error) {
	if opts.Component == "" {
		opts.Component = "main"
	}
	var fw *Firmware
	var err error
	asOf := int64(0)
	if opts.Freshness != nil {
		var st *device.FreshState
		if fw, st, err = c.freshStatus(ctx, class, opts.Freshness); err != nil {
			return nil, err
		}
		if err := matchesProof(activeOf(fw, opts.Component), st, opts.Component); err != nil {
			return nil, err
		}
		asOf = st.Time
	} else {
		if fw, err = c.Firmware(ctx, class); err != nil {
			return nil, err
		}
		asOf = fw.AsOfTime.UnixNano()
	}
	rel, err := chooseRelease(fw, class, opts, asOf)
	if err != nil {
		return nil, err
	}
	sources := []string{c.url(imagePath([32]byte(rel.Digest)), nil)}
	sources = append(sources, opts.Sources...)
	sources = append(sources, rel.URIs...)
	var last error = firmwareError(CodeImageUnavailable, "no source for image %x", rel.Digest)
	for _, src := range sources {
		err := c.download(ctx, src, path, [32]byte(rel.Digest), int64(rel.Size))
		if err == nil {
			return rel, nil
		}
		if ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
		last = err
	}
	var fe *FirmwareError
	if errors.As(last, &fe) {
		return nil, last
	}
	return nil, firmwareError(CodeImageUnavailable, "image %x: %v", rel.Digest, last)
}

// activeOf is the status's active release of a component, or nil.
func activeOf(fw *Firmware, component string) *device.ReleaseInfo {
	var rel *device.ReleaseInfo
	for i := range fw.Releases {
		if r := &fw.Releases[i]; r.Active && r.Component == component {
			rel = r
		}
	}
	return rel
}

// chooseRelease applies the device-side checks to the status; asOf is
// the ledger time it is as of.
func chooseRelease(fw *Firmware, class string, opts FetchOptions, asOf int64) (*device.ReleaseInfo, error) {
	if fw.Class != class {
		return nil, firmwareError(CodeWrongTarget, "the node answered for class %q, not %q", fw.Class, class)
	}
	rel := activeOf(fw, opts.Component)
	switch {
	case rel == nil:
		return nil, firmwareError(CodeNoActiveRelease, "class %s has no active %s release as of %s", class, opts.Component, fw.AsOf.Short())
	case rel.Class != class:
		return nil, firmwareError(CodeWrongTarget, "release %s is for class %q, not %q", rel.ID.Short(), rel.Class, class)
	case rel.Seq <= opts.Installed:
		return nil, firmwareError(CodeRollback, "the active release %d is not above the installed %d", rel.Seq, opts.Installed)
	case rel.Expires != 0 && rel.Expires < asOf:
		return nil, firmwareError(CodeReleaseExpired, "release %d expired at %s (ledger time), before the confirmed point %s", rel.Seq, dag.FormatTime(rel.Expires), dag.FormatTime(asOf))
	case rel.Requires > opts.Installed:
		return nil, firmwareError(CodeReleaseRequires, "release %d requires release %d installed first; the device runs %d", rel.Seq, rel.Requires, opts.Installed)
	case rel.Precursor != nil && (opts.Current == nil || *opts.Current != [32]byte(*rel.Precursor)):
		return nil, firmwareError(CodeWrongPrecursor, "release %d is a differential image for %x, which the device does not run", rel.Seq, *rel.Precursor)
	}
	return rel, nil
}

// download fetches src into path+".part", resuming a partial file with a
// range request, and renames it to path once size bytes hash to digest.
func (c *Client) download(ctx context.Context, src, path string, digest [32]byte, size int64) error {
	part := path + ".part"
	f, err := os.OpenFile(part, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("client: firmware: %w", err)
	}
	done := false
	defer func() {
		_ = f.Close()
		if !done {
			// Keep a good prefix for the next try; drop anything that
			// cannot be one.
			if st, err := os.Stat(part); err == nil && st.Size() >= size {
				_ = os.Remove(part)
			}
		}
	}()
	h := sha256.New()
	have, err := io.Copy(h, f)
	if err != nil {
		return fmt.Errorf("client: firmware: %w", err)
	}
	if have >= size {
		// A complete-looking part file that was never renamed did not
		// verify: start over.
		if err := f.Truncate(0); err != nil {
			return err
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return err
		}
		have, h = 0, sha256.New()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, src, nil)
	if err != nil {
		return fmt.Errorf("client: firmware: source %q: %w", src, err)
	}
	req.Header.Set("User-Agent", c.opts.UserAgent)
	if have > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(have, 10)+"-")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("client: firmware: %w", err)
	}
	defer drainClose(resp.Body)
	switch {
	case resp.StatusCode == http.StatusPartialContent && have > 0:
	case resp.StatusCode == http.StatusOK:
		// The whole image (a source without ranges): start over.
		if err := f.Truncate(0); err != nil {
			return err
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return err
		}
		have, h = 0, sha256.New()
	default:
		return fmt.Errorf("client: firmware: source %q answered %s", src, resp.Status)
	}
	if err := copyChecked(f, h, resp.Body, size-have); err != nil {
		return err
	}
	if [32]byte(h.Sum(nil)) != digest {
		_ = f.Truncate(0)
		return firmwareError(CodeDigestMismatch, "source %q: the image hashes to %x, the release signed %x", src, h.Sum(nil), digest)
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(part, path); err != nil {
		return fmt.Errorf("client: firmware: %w", err)
	}
	done = true
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}

// copyChecked appends exactly want bytes of r to f and h; one byte more is
// TUF's endless-data attack, refused without reading further.
func copyChecked(f *os.File, h hash.Hash, r io.Reader, want int64) error {
	n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(r, want+1))
	switch {
	case n > want:
		_ = f.Truncate(0)
		return firmwareError(CodeImageTooLarge, "the source sent more than the %d bytes the release signed", want)
	case err != nil:
		return fmt.Errorf("client: firmware: download cut off after %d of %d bytes: %w", n, want, err)
	case n < want:
		return fmt.Errorf("client: firmware: download cut off after %d of %d bytes", n, want)
	}
	return nil
}
