package node_test

import (
	"bytes"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tangled-ledger/tangled/client"
	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/device"
)

// TestOpenAPIFirmwareImages checks the hosted-image endpoints' real
// answers, refusals included, against the served document in strict
// mode, on a node of a network with an authority.
func TestOpenAPIFirmwareImages(t *testing.T) {
	c := newOANode(t, newKey(t))
	var seq atomic.Uint64
	// released posts a release of a fresh image and returns the image.
	released := func(t *testing.T, c *oaNode) []byte {
		n := seq.Add(1)
		img := bytes.Repeat([]byte(fmt.Sprintf("image %d;", n)), 100)
		rel := &device.Release{Class: "sensor", Component: "main", Seq: 100 + n, Digest: device.ImageDigest(img), Size: uint64(len(img))}
		c.control(t, dag.KindRelease, dag.ZeroID, rel.Encode())
		return img
	}
	put := func(body func(img []byte) []byte) func(*testing.T, *oaNode) oaRequest {
		return func(t *testing.T, c *oaNode) oaRequest {
			img := released(t, c)
			return oaRequest{method: "PUT", target: fmt.Sprintf("/v1/firmware/images/%x", device.ImageDigest(img)), ctype: "application/octet-stream", body: body(img)}
		}
	}
	uploaded := func(header http.Header) func(*testing.T, *oaNode) oaRequest {
		return func(t *testing.T, c *oaNode) oaRequest {
			img := released(t, c)
			if err := c.fix.UploadImage(t.Context(), img); err != nil {
				t.Fatal(err)
			}
			return oaRequest{method: "GET", target: fmt.Sprintf("/v1/firmware/images/%x", device.ImageDigest(img)), header: header}
		}
	}
	same := func(img []byte) []byte { return img }
	cases := []oaCase{
		{name: "upload", reqValid: true, status: 201, build: put(same)},
		{name: "upload longer than signed", reqValid: true, status: 413, code: "image_too_large",
			build: put(func(img []byte) []byte { return append(append([]byte{}, img...), 'x') })},
		{name: "upload shorter than signed", reqValid: true, status: 422, code: "image_size_mismatch",
			build: put(func(img []byte) []byte { return img[:len(img)-1] })},
		{name: "upload of other bytes", reqValid: true, status: 422, code: device.CodeDigestMismatch, build: put(bytes.ToUpper)},
		{name: "upload no release names", reqValid: true, status: 422, code: device.CodeUnknownRelease,
			build: func(t *testing.T, c *oaNode) oaRequest {
				img := []byte("nobody released this")
				return oaRequest{method: "PUT", target: fmt.Sprintf("/v1/firmware/images/%x", device.ImageDigest(img)), ctype: "application/octet-stream", body: img}
			}},
		{name: "image", reqValid: true, status: 200, build: uploaded(nil),
			check: func(t *testing.T, c *oaNode, res *oaResult) {
				if len(res.body) != 800 || res.resp.Header.Get("ETag") == "" {
					t.Fatalf("%d bytes, ETag %q", len(res.body), res.resp.Header.Get("ETag"))
				}
			}},
		{name: "image range", reqValid: true, status: 206, build: uploaded(http.Header{"Range": {"bytes=100-199"}}),
			check: func(t *testing.T, c *oaNode, res *oaResult) {
				if len(res.body) != 100 || res.resp.Header.Get("Content-Range") != "bytes 100-199/800" {
					t.Fatalf("%d bytes, Content-Range %q", len(res.body), res.resp.Header.Get("Content-Range"))
				}
			}},
		{name: "image not uploaded", reqValid: true, status: 404, code: "not_found",
			build: func(t *testing.T, c *oaNode) oaRequest {
				return oaRequest{method: "GET", target: fmt.Sprintf("/v1/firmware/images/%x", device.ImageDigest(released(t, c)))}
			}},
		{name: "image no release names", reqValid: true, status: 404, code: "not_found",
			build: oaGet(fmt.Sprintf("/v1/firmware/images/%x", device.ImageDigest([]byte("none"))))},
		{name: "firmware with a freshness proof", reqValid: true, status: 200,
			build: func(t *testing.T, c *oaNode) oaRequest {
				released(t, c)
				d := c.device(t, 0)
				anchor := c.attach(t, c.tx(t, d.key, dag.KindData, 0, dag.ZeroID, []byte("nonce"), time.Time{}))
				d.sent = append(d.sent, anchor)
				if _, err := c.fix.WaitConfirmed(t.Context(), anchor.ID()); err != nil {
					t.Fatal(err)
				}
				return oaRequest{method: "GET", target: "/v1/firmware/sensor?anchor=" + anchor.ID().String(),
					retry: func(res *oaResult) bool { return res.resp.StatusCode == http.StatusNotFound }}
			},
			check: func(t *testing.T, c *oaNode, res *oaResult) {
				var f client.Firmware
				res.json(t, &f)
				if f.Freshness == nil || len(f.Freshness.Beacons) != 1 || len(f.Freshness.Lines) == 0 {
					t.Fatalf("%s, want a proof of one beacon", res.body)
				}
			}},
		{name: "firmware anchor malformed", reqValid: false, status: 400, code: "malformed", build: oaGet("/v1/firmware/sensor?anchor=xyz")},
		{name: "firmware anchor unknown", reqValid: true, status: 404, code: "not_found", build: oaGet("/v1/firmware/sensor?anchor=" + dag.ID{1}.String())},
		{name: "image malformed digest", reqValid: false, status: 400, code: "malformed", build: oaGet("/v1/firmware/images/ABC")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { c.run(t, tc) })
	}
}
