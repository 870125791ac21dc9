package client

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/google/go-cmp/cmp"
)

func parseAll(r io.Reader) ([]sseMessage, error) {
	p := newSSEReader(r)
	var out []sseMessage
	for {
		m, err := p.next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, m)
	}
}

func TestParseSSE(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want []sseMessage
	}{
		{
			name: "the node's form",
			in:   "event: confirmed\ndata: {\"id\":\"ab\"}\n\n",
			want: []sseMessage{{Type: "confirmed", Data: `{"id":"ab"}`}},
		},
		{
			name: "multi-line data joined by LF",
			in:   "data: one\ndata:two\ndata:  three\n\n",
			want: []sseMessage{{Type: "message", Data: "one\ntwo\n three"}},
		},
		{
			name: "comments and keep-alives",
			in:   ": keep-alive\n\n:\nevent: attached\n: in between\ndata: x\n\n: keep-alive\n\n",
			want: []sseMessage{{Type: "attached", Data: "x"}},
		},
		{
			name: "CRLF",
			in:   "event: attached\r\ndata: a\r\n\r\nevent: confirmed\r\ndata: b\r\n\r\n",
			want: []sseMessage{{Type: "attached", Data: "a"}, {Type: "confirmed", Data: "b"}},
		},
		{
			name: "lone CR",
			in:   "event: attached\rdata: a\r\rdata: b\r\n\n",
			want: []sseMessage{{Type: "attached", Data: "a"}, {Type: "message", Data: "b"}},
		},
		{
			name: "event type resets after dispatch",
			in:   "event: lagged\ndata: {}\n\ndata: plain\n\n",
			want: []sseMessage{{Type: "lagged", Data: "{}"}, {Type: "message", Data: "plain"}},
		},
		{
			name: "no data, no dispatch, and the type does not leak",
			in:   "event: attached\n\ndata: x\n\n",
			want: []sseMessage{{Type: "message", Data: "x"}},
		},
		{
			name: "empty data line dispatches an empty event",
			in:   "data\n\ndata:\n\n",
			want: []sseMessage{{Type: "message", Data: ""}, {Type: "message", Data: ""}},
		},
		{
			name: "id and retry persist, bad retry ignored",
			in:   "id: 7\nretry: 2500\ndata: a\n\nretry: soon\ndata: b\n\nid\ndata: c\n\n",
			want: []sseMessage{
				{Type: "message", Data: "a", ID: "7", Retry: 2500 * time.Millisecond},
				{Type: "message", Data: "b", ID: "7", Retry: 2500 * time.Millisecond},
				{Type: "message", Data: "c", ID: "", Retry: 2500 * time.Millisecond},
			},
		},
		{
			name: "unknown fields ignored, colon in value kept",
			in:   "foo: bar\ndata: a:b: c\n\n",
			want: []sseMessage{{Type: "message", Data: "a:b: c"}},
		},
		{
			name: "unterminated last event dropped",
			in:   "data: a\n\ndata: b\n",
			want: []sseMessage{{Type: "message", Data: "a"}},
		},
		{
			name: "unterminated last line dropped",
			in:   "data: a\n\ndata: b",
			want: []sseMessage{{Type: "message", Data: "a"}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Byte by byte too: a CRLF split across reads must not
			// yield an extra blank line.
			for _, r := range []io.Reader{strings.NewReader(tc.in), iotest.OneByteReader(strings.NewReader(tc.in))} {
				got, err := parseAll(r)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(tc.want, got); diff != "" {
					t.Errorf("events (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestParseSSELimits(t *testing.T) {
	long := "data: " + strings.Repeat("x", maxSSELine) + "\n\n"
	if _, err := parseAll(strings.NewReader(long)); !errors.Is(err, errSSELine) {
		t.Errorf("overlong line: %v", err)
	}
	big := strings.Repeat("data: "+strings.Repeat("x", 1000)+"\n", maxSSEData/1000+1) + "\n"
	if _, err := parseAll(strings.NewReader(big)); !errors.Is(err, errSSEData) {
		t.Errorf("oversize event: %v", err)
	}
}

// FuzzParseSSE checks that the parser never panics, respects its limits,
// and does not depend on how the input is split into reads.
func FuzzParseSSE(f *testing.F) {
	for _, seed := range []string{
		"event: confirmed\ndata: {}\n\n",
		"data: a\r\ndata: b\r\n\r\n",
		"data: a\rdata: b\r\r",
		": c\n\nid: 1\nretry: 10\ndata\n\n",
		"event: lagged\n\n\r\n\r",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		whole, errWhole := parseAll(strings.NewReader(string(in)))
		split, errSplit := parseAll(iotest.OneByteReader(strings.NewReader(string(in))))
		if (errWhole == nil) != (errSplit == nil) {
			t.Fatalf("errors differ: %v vs %v", errWhole, errSplit)
		}
		if diff := cmp.Diff(whole, split); diff != "" {
			t.Fatalf("result depends on read sizes (-whole +bytewise):\n%s", diff)
		}
		for _, m := range whole {
			if m.Type == "" || len(m.Data) > maxSSEData || strings.ContainsAny(m.Type+m.ID, "\r\n") || strings.Contains(m.Data, "\r") {
				t.Fatalf("bad event %+v", m)
			}
		}
	})
}
