package dag_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zeebo/blake3"

	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/dag/dagtest"
	"github.com/tangled-ledger/tangled/pow"
)

// workedExampleDoc holds the worked example that an outside implementer
// builds a client from. Every value in its marked blocks is checked here,
// so the document and the code cannot drift apart.
const workedExampleDoc = "../docs/design/2026-11-25-transaction-format.md"

// workedExampleBlock matches a marker comment and the fenced block after it.
var workedExampleBlock = regexp.MustCompile("(?s)<!-- worked-example:([a-z-]+) -->\\s*\n```[a-z]*\n(.*?)\n```")

// workedExampleBlocks returns the marked blocks of the document by name.
func workedExampleBlocks(t *testing.T) map[string]string {
	t.Helper()
	doc, err := os.ReadFile(workedExampleDoc)
	if err != nil {
		t.Fatal(err)
	}
	blocks := map[string]string{}
	for _, m := range workedExampleBlock.FindAllStringSubmatch(string(doc), -1) {
		if _, dup := blocks[m[1]]; dup {
			t.Fatalf("%s: block %q appears twice", workedExampleDoc, m[1])
		}
		blocks[m[1]] = m[2]
	}
	for _, name := range []string{"inputs", "layout", "derived", "binary", "json", "json-input", "variants", "offer"} {
		if _, ok := blocks[name]; !ok {
			t.Fatalf("%s: no block marked <!-- worked-example:%s -->", workedExampleDoc, name)
		}
	}
	return blocks
}

// exampleLines splits a block into its lines' whitespace-separated fields,
// without comments (from "#") and blank lines.
func exampleLines(block string) [][]string {
	var lines [][]string
	for line := range strings.SplitSeq(block, "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		if f := strings.Fields(line); len(f) > 0 {
			lines = append(lines, f)
		}
	}
	return lines
}

// keyValues reads a block of "name value" lines.
func keyValues(t *testing.T, name, block string) map[string]string {
	t.Helper()
	kv := map[string]string{}
	for _, f := range exampleLines(block) {
		if len(f) != 2 {
			t.Fatalf("block %s: line %q is not \"name value\"", name, strings.Join(f, " "))
		}
		if _, dup := kv[f[0]]; dup {
			t.Fatalf("block %s: %s appears twice", name, f[0])
		}
		kv[f[0]] = f[1]
	}
	return kv
}

// field returns a required value of a key-value block.
func field(t *testing.T, kv map[string]string, block, name string) string {
	t.Helper()
	v, ok := kv[name]
	if !ok {
		t.Fatalf("block %s: no %s", block, name)
	}
	return v
}

func mustHex(t *testing.T, what, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if hex.EncodeToString(b) != s {
		t.Fatalf("%s: %q is not lower-case hex", what, s)
	}
	return b
}

func mustID(t *testing.T, what, s string) dag.ID {
	t.Helper()
	id, err := dag.ParseID(s)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return id
}

func mustUint(t *testing.T, what, s string, bitSize int) uint64 {
	t.Helper()
	v, err := strconv.ParseUint(s, 10, bitSize)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// workedExample is the example's transaction as the code builds it from
// the document's inputs, signed, with the document's nonce.
type workedExample struct {
	blocks map[string]string
	key    ed25519.PrivateKey
	tx     *dag.Transaction
	bits   int
}

func buildWorkedExample(t *testing.T) *workedExample {
	t.Helper()
	blocks := workedExampleBlocks(t)
	in := keyValues(t, "inputs", blocks["inputs"])
	seed := mustHex(t, "seed", field(t, in, "inputs", "seed"))
	if len(seed) != ed25519.SeedSize {
		t.Fatalf("seed: %d bytes, want %d", len(seed), ed25519.SeedSize)
	}
	timeNs, err := strconv.ParseInt(field(t, in, "inputs", "time"), 10, 64)
	if err != nil {
		t.Fatalf("time: %v", err)
	}
	bits, err := strconv.Atoi(field(t, in, "inputs", "bits"))
	if err != nil {
		t.Fatalf("bits: %v", err)
	}
	tx := &dag.Transaction{
		Kind:    dag.Kind(mustUint(t, "kind", field(t, in, "inputs", "kind"), 8)),
		Trunk:   mustID(t, "trunk", field(t, in, "inputs", "trunk")),
		Branch:  mustID(t, "branch", field(t, in, "inputs", "branch")),
		Seq:     mustUint(t, "seq", field(t, in, "inputs", "seq"), 64),
		Prev:    mustID(t, "prev", field(t, in, "inputs", "prev")),
		Time:    timeNs,
		Payload: mustHex(t, "payload", field(t, in, "inputs", "payload")),
	}
	key := ed25519.NewKeyFromSeed(seed)
	tx.Sign(key)
	derived := keyValues(t, "derived", blocks["derived"])
	tx.Nonce = mustUint(t, "nonce", field(t, derived, "derived", "nonce"), 64)
	return &workedExample{blocks: blocks, key: key, tx: tx, bits: bits}
}

// TestWorkedExample recomputes the worked example of the transaction-format
// note: key, essence, signature, ID, work, binary and JSON encodings.
func TestWorkedExample(t *testing.T) {
	ex := buildWorkedExample(t)
	tx := ex.tx
	if !tx.Kind.Known() {
		t.Fatalf("kind %d is not a kind of this protocol", tx.Kind)
	}
	// The stated bits are what the default rules require of this payload
	// from an issuer with no recent transactions.
	if need := pow.DefaultRules().Required(len(tx.Payload), 0); need != ex.bits {
		t.Errorf("bits: document says %d, the default rules require %d", ex.bits, need)
	}

	derived := keyValues(t, "derived", ex.blocks["derived"])
	get := func(name string) string { return field(t, derived, "derived", name) }

	pub := ex.key.Public().(ed25519.PublicKey)
	if got, want := get("public_key"), hex.EncodeToString(pub); got != want {
		t.Errorf("public_key: document %s, code %s", got, want)
	}
	if !bytes.Equal(tx.Issuer[:], pub) {
		t.Errorf("Sign set issuer %s, want the key's public key %x", tx.Issuer, pub)
	}

	essence := tx.Essence()
	if got, want := get("signature"), hex.EncodeToString(tx.Signature[:]); got != want {
		t.Errorf("signature: document %s, code %s", got, want)
	}
	if !ed25519.Verify(pub, essence, tx.Signature[:]) {
		t.Error("the signature does not verify over the essence under RFC 8032")
	}
	if !dag.VerifySignature(tx) {
		t.Error("the signature does not verify under the ledger's ZIP-215 rule")
	}
	// Ed25519 is deterministic: the same essence signed again gives the
	// same signature and therefore the same ID.
	again := *tx
	again.Signature = [dag.SignatureSize]byte{}
	again.Sign(ex.key)
	if again.Signature != tx.Signature || again.ID() != tx.ID() {
		t.Error("signing the same essence again gave another signature or ID")
	}

	id := tx.ID()
	if got := get("id"); got != id.String() {
		t.Errorf("id: document %s, code %s", got, id)
	}
	if hashed := blake3.Sum256(append(bytes.Clone(essence), tx.Signature[:]...)); hashed != id {
		t.Errorf("id %s is not BLAKE3-256(essence ‖ signature) = %x", id, hashed)
	}

	// Work: BLAKE3-256(ID ‖ nonce little-endian), the smallest nonce.
	workInput := binary.LittleEndian.AppendUint64(append([]byte(nil), id[:]...), tx.Nonce)
	if got := get("work_input"); got != hex.EncodeToString(workInput) {
		t.Errorf("work_input: document %s, code %x", got, workInput)
	}
	digest := pow.Digest(id, tx.Nonce)
	if digest != blake3.Sum256(workInput) {
		t.Errorf("pow.Digest %x is not BLAKE3-256 of the work input", digest)
	}
	if got := get("work_hash"); got != hex.EncodeToString(digest[:]) {
		t.Errorf("work_hash: document %s, code %x", got, digest)
	}
	if got, want := get("work_bits"), strconv.Itoa(pow.LeadingZeroBits(digest)); got != want {
		t.Errorf("work_bits: document %s, code %s", got, want)
	}
	if !pow.Verify(id, tx.Nonce, ex.bits) {
		t.Errorf("nonce %d does not meet %d bits", tx.Nonce, ex.bits)
	}
	for n := range tx.Nonce {
		if pow.Verify(id, n, ex.bits) {
			t.Errorf("nonce %d is not the smallest: %d meets %d bits too", tx.Nonce, n, ex.bits)
			break
		}
	}
	solved, err := pow.Solve(context.Background(), id, ex.bits, 1)
	if err != nil || solved != tx.Nonce {
		t.Errorf("pow.Solve with one worker = %d, %v; document says %d", solved, err, tx.Nonce)
	}

	raw := tx.Bytes()
	checkLayout(t, ex.blocks["layout"], raw, len(essence))

	binaryHex := strings.Join(strings.Fields(ex.blocks["binary"]), "")
	stated := mustHex(t, "binary", binaryHex)
	if !bytes.Equal(stated, raw) {
		t.Errorf("binary: document\n%x\ncode\n%x", stated, raw)
	}
	if len(stated) != dag.MinSize+len(tx.Payload) {
		t.Errorf("binary: %d bytes, want 222 + %d", len(stated), len(tx.Payload))
	}
	decoded, err := dag.Decode(stated, dag.DefaultMaxPayload)
	if err != nil {
		t.Fatalf("Decode of the stated binary: %v", err)
	}
	checkSameFields(t, "Decode(binary)", decoded, tx)

	// The JSON form exactly as the node writes it.
	statedJSON := ex.blocks["json"]
	written, err := tx.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	if string(written) != statedJSON {
		t.Errorf("json: document\n%s\nMarshalJSON\n%s", statedJSON, written)
	}
	if again, _ := decoded.MarshalJSON(); !bytes.Equal(again, written) {
		t.Errorf("MarshalJSON of the decoded transaction\n%s\ndiffers from\n%s", again, written)
	}
	for _, name := range []string{"json", "json-input"} {
		fromJSON, err := dag.DecodeJSON([]byte(ex.blocks[name]))
		if err != nil {
			t.Errorf("DecodeJSON of block %s: %v", name, err)
			continue
		}
		if !bytes.Equal(fromJSON, raw) {
			t.Errorf("DecodeJSON of block %s gave\n%x\nwant the binary\n%x", name, fromJSON, raw)
		}
	}
}

// workedExampleFields are the layout's rows in order.
var workedExampleFields = []string{
	"version", "kind", "trunk", "branch", "issuer", "seq", "prev", "time",
	"payload_length", "payload", "signature", "nonce",
}

// checkLayout checks the layout table: offsets follow from the sizes, the
// rows are the format's fields in order, their bytes are the encoding's and
// the essence ends where the signature starts.
func checkLayout(t *testing.T, block string, raw []byte, essenceLen int) {
	t.Helper()
	lines := exampleLines(block)
	if len(lines) > 0 && lines[0][0] == "offset" {
		lines = lines[1:]
	}
	if len(lines) != len(workedExampleFields) {
		t.Fatalf("layout: %d rows, want %d (%v)", len(lines), len(workedExampleFields), workedExampleFields)
	}
	offset := 0
	for i, f := range lines {
		if len(f) != 4 {
			t.Fatalf("layout: row %q is not \"offset size field hex\"", strings.Join(f, " "))
		}
		name := f[2]
		if name != workedExampleFields[i] {
			t.Errorf("layout: row %d is %s, want %s", i, name, workedExampleFields[i])
		}
		if got := int(mustUint(t, "layout offset", f[0], 32)); got != offset {
			t.Errorf("layout: %s at offset %d, want %d", name, got, offset)
		}
		b := mustHex(t, "layout "+name, f[3])
		if got := int(mustUint(t, "layout size", f[1], 32)); got != len(b) {
			t.Errorf("layout: %s has size %d but %d bytes of hex", name, got, len(b))
		}
		if name == "signature" && offset != essenceLen {
			t.Errorf("layout: the signature starts at %d, the essence is %d bytes", offset, essenceLen)
		}
		if offset+len(b) > len(raw) || !bytes.Equal(b, raw[offset:offset+len(b)]) {
			t.Errorf("layout: %s is %x, the encoding has %x", name, b, raw[offset:min(offset+len(b), len(raw))])
		}
		offset += len(b)
	}
	if offset != len(raw) {
		t.Errorf("layout: rows cover %d bytes, the encoding has %d", offset, len(raw))
	}
}

func checkSameFields(t *testing.T, what string, got, want *dag.Transaction) {
	t.Helper()
	if got.Kind != want.Kind || got.Trunk != want.Trunk || got.Branch != want.Branch ||
		got.Issuer != want.Issuer || got.Seq != want.Seq || got.Prev != want.Prev ||
		got.Time != want.Time || !bytes.Equal(got.Payload, want.Payload) ||
		got.Signature != want.Signature || got.Nonce != want.Nonce || got.ID() != want.ID() {
		t.Errorf("%s: fields differ\ngot  %+v\nwant %+v", what, got, want)
	}
}

// jsonMember is one key of a JSON object, in order.
type jsonMember struct {
	key   string
	value json.RawMessage
}

func jsonMembers(t *testing.T, text string) []jsonMember {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(text))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("json-input: not an object (%v)", err)
	}
	var members []jsonMember
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
		members = append(members, jsonMember{key: tok.(string), value: v})
	}
	if _, err := dec.Token(); err != nil {
		t.Fatal(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		t.Fatal("json-input: data after the object")
	}
	return members
}

func joinMembers(members []jsonMember) []byte {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range members {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%q:%s", m.key, m.value)
	}
	b.WriteByte('}')
	return b.Bytes()
}

// TestWorkedExampleVariants checks the document's near misses: one change
// to the input JSON and the code the node answers, in the node's order of
// checks (decoding, work, signature).
func TestWorkedExampleVariants(t *testing.T) {
	ex := buildWorkedExample(t)
	base := jsonMembers(t, ex.blocks["json-input"])
	for _, f := range exampleLines(ex.blocks["variants"]) {
		line := strings.Join(f, " ")
		if len(f) < 3 {
			t.Fatalf("variants: line %q is not \"op field [value] code\"", line)
		}
		op, key, want := f[0], f[1], f[len(f)-1]
		value := json.RawMessage(strings.Join(f[2:len(f)-1], " "))
		t.Run(line, func(t *testing.T) {
			members := append([]jsonMember(nil), base...)
			at := -1
			for i, m := range members {
				if m.key == key {
					at = i
				}
			}
			switch op {
			case "set", "setw":
				if at < 0 {
					t.Fatalf("no field %q to set", key)
				}
				members[at].value = value
			case "del":
				if at < 0 {
					t.Fatalf("no field %q to delete", key)
				}
				members = append(members[:at], members[at+1:]...)
			case "add":
				members = append(members, jsonMember{key: key, value: value})
			default:
				t.Fatalf("unknown op %q", op)
			}
			if got := nodeVerdict(t, joinMembers(members), ex.bits, op == "setw"); got != want {
				t.Errorf("got %s, document says %s", got, want)
			}
		})
	}
}

// nodeVerdict is the code the node answers for a JSON transaction up to
// attach, "ok" when it passes. With resolve the work is solved again for
// the transaction's ID first.
func nodeVerdict(t *testing.T, text []byte, bits int, resolve bool) string {
	t.Helper()
	raw, err := dag.DecodeJSON(text)
	if err != nil {
		return dag.Code(err)
	}
	tx, err := dag.Decode(raw, dag.DefaultMaxPayload)
	if err != nil {
		return dag.Code(err)
	}
	if resolve {
		if tx.Nonce, err = pow.Solve(context.Background(), tx.ID(), bits, 1); err != nil {
			t.Fatal(err)
		}
	}
	if !pow.Verify(tx.ID(), tx.Nonce, bits) {
		return dag.Code(dag.ErrWork)
	}
	if !dag.VerifySignature(tx) {
		return dag.Code(dag.ErrSignature)
	}
	return "ok"
}

// TestWorkedExampleOffer offers the example to a ledger with the default
// rules at the document's clock readings: 30 s of future drift, then
// parked on its three unknown references.
func TestWorkedExampleOffer(t *testing.T) {
	ex := buildWorkedExample(t)
	raw, err := dag.DecodeJSON([]byte(ex.blocks["json"]))
	if err != nil {
		t.Fatal(err)
	}
	tx, err := dag.Decode(raw, dag.DefaultMaxPayload)
	if err != nil {
		t.Fatal(err)
	}
	if dag.DefaultMaxFutureDrift != 30*time.Second {
		t.Errorf("DefaultMaxFutureDrift is %v; the document and the contract say 30 s", dag.DefaultMaxFutureDrift)
	}
	for _, f := range exampleLines(ex.blocks["offer"]) {
		line := strings.Join(f, " ")
		t.Run(line, func(t *testing.T) {
			if len(f) < 2 {
				t.Fatalf("offer: line %q is not \"clock outcome [missing...]\"", line)
			}
			clock, err := time.Parse(time.RFC3339Nano, f[0])
			if err != nil {
				t.Fatal(err)
			}
			net := dagtest.NewNetwork(1, pow.DefaultRules())
			l, err := dag.Open(dag.Config{Genesis: net.Genesis, Now: func() time.Time { return clock }})
			if err != nil {
				t.Fatal(err)
			}
			results, err := l.AttachVerified([]*dag.Transaction{tx}).Wait()
			if err != nil {
				t.Fatal(err)
			}
			res := results[0]
			got := res.Status.String()
			if res.Err != nil {
				got = dag.Code(res.Err)
			}
			if got != f[1] {
				t.Errorf("outcome %s (%v), document says %s", got, res.Err, f[1])
			}
			var missing []string
			for _, id := range res.Missing {
				missing = append(missing, id.String())
			}
			if strings.Join(missing, " ") != strings.Join(f[2:], " ") {
				t.Errorf("missing %v, document says %v", missing, f[2:])
			}
		})
	}
}

// The worked example of docs/design/2026-11-25-transaction-format.md in
// code: build the essence, sign, solve the work, encode.
func Example_workedExample() {
	seed := make([]byte, ed25519.SeedSize)
	for i := range seed {
		seed[i] = byte(i) // 00 01 ... 1f
	}
	pattern := func(first byte) (id dag.ID) {
		for i := range id {
			id[i] = first + byte(i)
		}
		return id
	}
	issued, _ := time.Parse(time.RFC3339Nano, "2026-12-02T10:30:00.1234567Z")
	tx := &dag.Transaction{
		Kind:    dag.KindData,
		Trunk:   pattern(0xa0), // from GET /v1/tips
		Branch:  pattern(0xc0),
		Seq:     7,             // issuer.next_seq
		Prev:    pattern(0xe0), // issuer.prev
		Time:    issued.UnixNano(),
		Payload: []byte("temp=21.5C"),
	}
	tx.Sign(ed25519.NewKeyFromSeed(seed)) // sets Issuer and Signature
	bits := pow.DefaultRules().Required(len(tx.Payload), 0)
	nonce, err := pow.Solve(context.Background(), tx.ID(), bits, 1)
	if err != nil {
		panic(err)
	}
	tx.Nonce = nonce
	fmt.Println("issuer", tx.Issuer)
	fmt.Println("id    ", tx.ID())
	fmt.Println("bits  ", bits, "nonce", tx.Nonce)
	fmt.Println("size  ", len(tx.Bytes()))
	// Output:
	// issuer 03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8
	// id     85c3ae8d35f29433d0da8afce38698f1d3f6e459a26fe6136722066dd78821f1
	// bits   12 nonce 9714
	// size   232
}
