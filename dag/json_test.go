package dag_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tangled-ledger/tangled/dag"
)

// replaceField returns js with the whole "key":value member replaced by
// member (or removed when member is empty).
func replaceField(t *testing.T, js []byte, key, member string) string {
	t.Helper()
	s := string(js)
	start := strings.Index(s, `"`+key+`":`)
	if start < 0 {
		t.Fatalf("no field %q in %s", key, js)
	}
	end := start + len(key) + 3
	if s[end] == '"' {
		end += strings.IndexByte(s[end+1:], '"') + 2
	} else {
		for end < len(s) && s[end] != ',' && s[end] != '}' {
			end++
		}
	}
	if member == "" {
		// Drop the member and the comma after it (every field but the
		// last has one).
		if end < len(s) && s[end] == ',' {
			end++
		} else if start > 0 && s[start-1] == ',' {
			start--
		}
		return s[:start] + s[end:]
	}
	return s[:start] + member + s[end:]
}

// TestDecodeJSONStrict is the JSON form's one-rule-per-case table
// (docs/design/2026-12-02-api-hardening.md §3): every case is refused with
// the stated sentinel and a message naming the problem.
func TestDecodeJSONStrict(t *testing.T) {
	tx := sampleTx(t, []byte("reading"))
	js, err := tx.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	idHex := tx.ID().String()
	cases := []struct {
		name string
		in   string
		want error
		msg  string // a substring of the message
	}{
		{"empty", ``, dag.ErrMalformed, "end of input"},
		{"not an object", `[1]`, dag.ErrMalformed, "is an object"},
		{"truncated", string(js[:len(js)-1]), dag.ErrMalformed, "end of input"},
		{"empty object", `{}`, dag.ErrMalformed, `missing field "version"`},
		{"trailing comma", strings.Replace(string(js), "}", ",}", 1), dag.ErrMalformed, "invalid character"},
		{"missing colon", strings.Replace(string(js), `"seq":`, `"seq" `, 1), dag.ErrMalformed, "want ':'"},
		{"single quotes", strings.Replace(string(js), `"seq"`, `'seq'`, 1), dag.ErrMalformed, "invalid character"},
		{"leading zero number", replaceField(t, js, "seq", `"seq":01`), dag.ErrMalformed, "want '}'"},
		{"number without digits after the point", replaceField(t, js, "seq", `"seq":1.`), dag.ErrMalformed, "invalid number"},
		{"control character in a string", replaceField(t, js, "kind", "\"kind\":\"da\tta\""), dag.ErrMalformed, "control character"},
		{"lone surrogate escape", replaceField(t, js, "kind", `"kind":"\ud800"`), dag.ErrMalformed, "surrogate"},
		{"invalid escape", replaceField(t, js, "kind", `"kind":"\x41"`), dag.ErrMalformed, "invalid escape"},
		{"unterminated string", `{"version`, dag.ErrMalformed, "unterminated string"},
		{"data after the object", string(js) + `{}`, dag.ErrMalformed, "after the object"},
		{"invalid UTF-8", replaceField(t, js, "payload", "\"payload\":\"\xff\""), dag.ErrMalformed, "UTF-8"},
		{"unknown field", strings.Replace(string(js), `{`, `{"extra":"1",`, 1), dag.ErrMalformed, `unknown field "extra"`},
		{"duplicate key", strings.Replace(string(js), `{`, `{"seq":0,`, 1), dag.ErrMalformed, `"seq" appears twice`},
		{"null value", replaceField(t, js, "prev", `"prev":null`), dag.ErrMalformed, `"prev" is null`},
		{"nested value", replaceField(t, js, "payload", `"payload":{}`), dag.ErrMalformed, "string or a number"},
		{"boolean value", replaceField(t, js, "seq", `"seq":true`), dag.ErrMalformed, "string or a number"},
		{"missing nonce", replaceField(t, js, "nonce", ""), dag.ErrMalformed, `missing field "nonce"`},
		{"missing seq", replaceField(t, js, "seq", ""), dag.ErrMalformed, `missing field "seq"`},
		{"missing version", replaceField(t, js, "version", ""), dag.ErrMalformed, `missing field "version"`},
		{"wrong id", strings.Replace(string(js), idHex, dag.ID{9}.String(), 1), dag.ErrMalformed, "id does not match"},
		{"upper-case id", strings.Replace(string(js), idHex, strings.ToUpper(idHex), 1), dag.ErrMalformed, "lower-case"},
		{"upper-case trunk", replaceField(t, js, "trunk", `"trunk":"`+strings.ToUpper(tx.Trunk.String())+`"`), dag.ErrMalformed, "lower-case"},
		{"short issuer", replaceField(t, js, "issuer", `"issuer":"00"`), dag.ErrMalformed, "64 lower-case hex digits"},
		{"short signature", replaceField(t, js, "signature", `"signature":"00"`), dag.ErrMalformed, "128 lower-case hex digits"},
		{"version 7", replaceField(t, js, "version", `"version":7`), dag.ErrVersion, "7"},
		{"version 256", replaceField(t, js, "version", `"version":256`), dag.ErrVersion, "256"},
		{"version -1", replaceField(t, js, "version", `"version":-1`), dag.ErrVersion, "-1"},
		{"version 1.0", replaceField(t, js, "version", `"version":1.0`), dag.ErrMalformed, "integer"},
		{"version as string", replaceField(t, js, "version", `"version":"1"`), dag.ErrMalformed, "must be a number"},
		{"kind as number", replaceField(t, js, "kind", `"kind":1`), dag.ErrMalformed, "must be a string"},
		{"unknown kind", replaceField(t, js, "kind", `"kind":"teapot"`), dag.ErrKind, "teapot"},
		{"upper-case kind", replaceField(t, js, "kind", `"kind":"DATA"`), dag.ErrKind, "DATA"},
		{"seq as string", replaceField(t, js, "seq", `"seq":"1"`), dag.ErrMalformed, "must be a number"},
		{"seq with fraction", replaceField(t, js, "seq", `"seq":1.0`), dag.ErrMalformed, "integer"},
		{"seq with exponent", replaceField(t, js, "seq", `"seq":1e0`), dag.ErrMalformed, "integer"},
		{"negative seq", replaceField(t, js, "seq", `"seq":-1`), dag.ErrMalformed, "integer"},
		{"seq beyond uint64", replaceField(t, js, "seq", `"seq":18446744073709551616`), dag.ErrMalformed, "integer"},
		{"nonce as number", replaceField(t, js, "nonce", `"nonce":5`), dag.ErrMalformed, "must be a string"},
		{"nonce with sign", replaceField(t, js, "nonce", `"nonce":"+5"`), dag.ErrMalformed, "without sign"},
		{"nonce with leading zero", replaceField(t, js, "nonce", `"nonce":"05"`), dag.ErrMalformed, "leading zeros"},
		{"nonce in hex", replaceField(t, js, "nonce", `"nonce":"0x5"`), dag.ErrMalformed, "decimal"},
		{"nonce beyond uint64", replaceField(t, js, "nonce", `"nonce":"18446744073709551616"`), dag.ErrMalformed, "decimal"},
		{"time not RFC 3339", replaceField(t, js, "time", `"time":"yesterday"`), dag.ErrMalformed, "not RFC 3339"},
		{"time in 2600", replaceField(t, js, "time", `"time":"2600-01-01T00:00:00Z"`), dag.ErrMalformed, "2262-04-11T23:47:16.854775807Z"},
		{"time in 9999", replaceField(t, js, "time", `"time":"9999-12-31T23:59:59Z"`), dag.ErrMalformed, "out of range"},
		{"time before 1970", replaceField(t, js, "time", `"time":"1969-12-31T23:59:59Z"`), dag.ErrMalformed, "from 1970-01-01T00:00:00Z"},
		{"time just past the range", replaceField(t, js, "time", `"time":"2262-04-11T23:47:16.854775808Z"`), dag.ErrMalformed, "out of range"},
		{"time with offset", replaceField(t, js, "time", `"time":"2023-11-14T23:13:20.000000001+01:00"`), dag.ErrMalformed, "not canonical"},
		{"time with trailing zero", replaceField(t, js, "time", `"time":"2023-11-14T22:13:20.0000000010Z"`), dag.ErrMalformed, "not canonical"},
		{"time with zero fraction", replaceField(t, js, "time", `"time":"2023-11-14T22:13:20.0Z"`), dag.ErrMalformed, "not canonical"},
		{"time lower-case z", replaceField(t, js, "time", `"time":"2023-11-14T22:13:20.000000001z"`), dag.ErrMalformed, "time"},
		{"payload unpadded", replaceField(t, js, "payload", `"payload":"cmVhZGluZw"`), dag.ErrMalformed, "base64"},
		{"payload url alphabet", replaceField(t, js, "payload", `"payload":"-_8="`), dag.ErrMalformed, "base64"},
		{"payload with newline", replaceField(t, js, "payload", `"payload":"cmVh\nZGluZw=="`), dag.ErrMalformed, "base64"},
		{"payload non-zero pad bits", replaceField(t, js, "payload", `"payload":"cmVhZGluZx=="`), dag.ErrMalformed, "base64"},
		{"payload over the protocol cap", replaceField(t, js, "payload", `"payload":"`+strings.Repeat("A", 90000)+`"`), dag.ErrPayloadTooLarge, "base64 characters"},
	}
	seen := map[string]bool{}
	for _, c := range cases {
		if seen[c.in] {
			t.Fatalf("case %q does not change the input", c.name)
		}
		seen[c.in] = true
		t.Run(c.name, func(t *testing.T) {
			raw, err := dag.DecodeJSON([]byte(c.in))
			if !errors.Is(err, c.want) {
				t.Fatalf("DecodeJSON = %x, %v; want %v\ninput: %.300s", raw, err, c.want, c.in)
			}
			if !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("message %q does not say %q", err, c.msg)
			}
		})
	}
}

// TestDecodeJSONAccepts checks the freedoms the form keeps: key order,
// whitespace, an absent id, JSON string escapes.
func TestDecodeJSONAccepts(t *testing.T) {
	tx := sampleTx(t, []byte("reading"))
	js, _ := tx.MarshalJSON()
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(js, &fields); err != nil {
		t.Fatal(err)
	}
	delete(fields, "id")
	reordered, _ := json.MarshalIndent(fields, "", "\t") // sorted keys, indented
	cases := map[string][]byte{
		"as written":            js,
		"no id, other order":    reordered,
		"escaped kind":          []byte(strings.Replace(string(js), `"kind":"data"`, `"kind":"d\u0061ta"`, 1)),
		"escaped key":           []byte(strings.Replace(string(js), `"seq":`, `"s\u0065q":`, 1)),
		"whitespace everywhere": []byte(" \n" + strings.ReplaceAll(string(js), ",", " ,\t") + "\r\n"),
	}
	for name, in := range cases {
		raw, err := dag.DecodeJSON(in)
		if err != nil {
			t.Errorf("%s: %v\n%s", name, err, in)
			continue
		}
		if !bytes.Equal(raw, tx.Bytes()) {
			t.Errorf("%s: decoded to another transaction", name)
		}
	}
}

// TestJSONTimeRange: both ends of the range round-trip.
func TestJSONTimeRange(t *testing.T) {
	for _, ns := range []int64{0, 1, 1<<63 - 1} {
		s := dag.FormatTime(ns)
		got, err := dag.ParseTime(s)
		if err != nil || got != ns {
			t.Errorf("ParseTime(FormatTime(%d) = %q) = %d, %v", ns, s, got, err)
		}
	}
}

// FuzzDecodeJSON checks the JSON decoder never panics, that what it
// refuses gets a typed error, and that what it accepts is a bijection:
// decoding, encoding and marshalling again gives the same field values as
// the input (and the same bytes when decoded once more).
func FuzzDecodeJSON(f *testing.F) {
	js, _ := sampleTx(f, []byte("x")).MarshalJSON()
	f.Add(js)
	f.Add([]byte(`{"version":1}`))
	f.Add([]byte(strings.Replace(string(js), `"time":"`, `"time":"2600-`, 1)))
	f.Fuzz(func(t *testing.T, in []byte) {
		raw, err := dag.DecodeJSON(in)
		if err != nil {
			if dag.Code(err) == "internal" {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		tx, err := dag.Decode(raw, dag.MaxPayloadLimit)
		if err != nil {
			if dag.Code(err) == "internal" {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		out, err := tx.MarshalJSON()
		if err != nil {
			t.Fatalf("MarshalJSON of an accepted transaction: %v", err)
		}
		var a, b map[string]any
		if !json.Valid(in) {
			t.Fatalf("accepted input is not valid JSON: %q", in)
		}
		if err := json.Unmarshal(in, &a); err != nil {
			t.Fatalf("accepted input is not JSON: %v", err)
		}
		if err := json.Unmarshal(out, &b); err != nil {
			t.Fatal(err)
		}
		if _, ok := a["id"]; !ok {
			delete(b, "id")
		}
		if diff := cmp.Diff(a, b); diff != "" {
			t.Fatalf("accepted JSON is not the canonical form of its transaction (-in +out):\n%s", diff)
		}
		again, err := dag.DecodeJSON(out)
		if err != nil || !bytes.Equal(again, raw) {
			t.Fatalf("re-decoding our own JSON: %v", err)
		}
	})
}
