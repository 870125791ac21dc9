package policy

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Reads is the set of input groups a policy may read.
type Reads uint8

// The input groups.
const (
	ReadTx Reads = 1 << iota
	ReadDevice
	ReadHistory

	readAll = ReadTx | ReadDevice | ReadHistory
)

var readNames = []struct {
	bit  Reads
	name string
}{{ReadTx, "tx"}, {ReadDevice, "device"}, {ReadHistory, "history"}}

// String lists the groups, comma-separated, in a fixed order.
func (r Reads) String() string {
	var parts []string
	for _, g := range readNames {
		if r&g.bit != 0 {
			parts = append(parts, g.name)
		}
	}
	return strings.Join(parts, ", ")
}

// ParseReads parses "tx, device, history" (any subset, any order).
func ParseReads(s string) (Reads, error) {
	var r Reads
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		found := false
		for _, g := range readNames {
			if part == g.name {
				r |= g.bit
				found = true
			}
		}
		if !found {
			return 0, fmt.Errorf("reads: %q is not tx, device or history", part)
		}
	}
	return r, nil
}

// Rate is a count per window: a policy's free transactions per window
// (with Growth, the bits of work each transaction beyond them adds), or
// the node-work allowance.
type Rate struct {
	Count  int
	Window time.Duration
	// Growth is the bits of work each transaction beyond Count adds (the
	// free rate only).
	Growth int
}

// Limits of a policy's fields.
const (
	MaxName     = 64
	MaxExpr     = 4096
	MaxWindow   = 24 * time.Hour
	MaxRateFree = 1 << 20
	MaxGrowth   = 32
	// DefaultWindow is history.in_window's window when a policy names none.
	DefaultWindow = time.Minute
)

// Source is a policy as its author wrote it: a header (name, version, what
// it reads, the window of history.in_window, the free rate and its growth,
// the node-work allowance) and the CEL expression.
type Source struct {
	Name    string
	Version uint64
	Reads   Reads
	// Window is history.in_window's window (DefaultWindow when zero).
	Window time.Duration
	// Rate, when set, replaces the genesis rate rule for the devices the
	// policy applies to: Count free transactions per Window, each one
	// beyond them Growth more bits of work.
	Rate *Rate
	// NodeWork, when set, is how many transactions per window a node
	// solves the proof of work for on a device's behalf.
	NodeWork *Rate
	Expr     string
}

// ErrSource is wrapped by every error of a malformed policy source or
// payload.
var ErrSource = errors.New("policy: malformed")

func sourceErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrSource, fmt.Sprintf(format, args...))
}

// Validate checks the header's limits (not the expression's CEL, which
// Compile checks).
func (s *Source) Validate() error {
	if !validName(s.Name) {
		return sourceErr("name %q (1 to %d of a-z 0-9 . _ -)", s.Name, MaxName)
	}
	if s.Version == 0 {
		return sourceErr("version must be at least 1")
	}
	if s.Reads == 0 || s.Reads&^readAll != 0 {
		return sourceErr("reads must name some of tx, device, history")
	}
	if s.Window < 0 || s.Window > MaxWindow {
		return sourceErr("window %v (0 to %v)", s.Window, MaxWindow)
	}
	for _, r := range []struct {
		name string
		rate *Rate
	}{{"rate", s.Rate}, {"node-work", s.NodeWork}} {
		if r.rate == nil {
			continue
		}
		if r.rate.Count < 0 || r.rate.Count > MaxRateFree || r.rate.Window <= 0 || r.rate.Window > MaxWindow {
			return sourceErr("%s %d/%v (0 to %d per a window of up to %v)", r.name, r.rate.Count, r.rate.Window, MaxRateFree, MaxWindow)
		}
		if r.rate.Growth < 0 || r.rate.Growth > MaxGrowth {
			return sourceErr("%s growth %d (0 to %d bits)", r.name, r.rate.Growth, MaxGrowth)
		}
	}
	if s.NodeWork != nil && s.NodeWork.Growth != 0 {
		return sourceErr("node-work has no growth")
	}
	if strings.TrimSpace(s.Expr) == "" || len(s.Expr) > MaxExpr || !utf8.ValidString(s.Expr) {
		return sourceErr("the expression must be UTF-8 of 1 to %d bytes", MaxExpr)
	}
	return nil
}

func validName(s string) bool {
	if len(s) == 0 || len(s) > MaxName {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// ParseFile reads a policy file: leading comment lines of the form
// "// key: value" are the header, the rest is the CEL expression.
//
//	// name: thermostat
//	// version: 1
//	// reads: tx, history
//	// rate: 1/10s growth 2
//	tx.size <= 256 && tx.time - history.last_time >= duration("10s")
//
// Keys: name, version and reads (required); window (a duration);
// rate ("N/DURATION", optionally "growth BITS", default 1); node-work
// ("N/DURATION"). Other comment lines in the header are kept as comments
// of the expression.
func ParseFile(text []byte) (*Source, error) {
	s := &Source{}
	seen := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(text))
	sc.Buffer(make([]byte, 0, 1024), MaxExpr+1024)
	var body strings.Builder
	inHeader := true
	for sc.Scan() {
		line := sc.Text()
		if inHeader {
			trimmed := strings.TrimSpace(line)
			if trimmed == "" {
				continue
			}
			if c, ok := strings.CutPrefix(trimmed, "//"); ok {
				key, value, isKV := strings.Cut(c, ":")
				key = strings.TrimSpace(key)
				if isKV && isHeaderKey(key) {
					if seen[key] {
						return nil, sourceErr("header %q given twice", key)
					}
					seen[key] = true
					if err := s.setHeader(key, strings.TrimSpace(value)); err != nil {
						return nil, err
					}
					continue
				}
			} else {
				inHeader = false
			}
		}
		body.WriteString(line)
		body.WriteByte('\n')
	}
	if err := sc.Err(); err != nil {
		return nil, sourceErr("%v", err)
	}
	for _, k := range []string{"name", "version", "reads"} {
		if !seen[k] {
			return nil, sourceErr("the header has no %q line (// %s: ...)", k, k)
		}
	}
	s.Expr = strings.TrimSpace(body.String())
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return s, nil
}

func isHeaderKey(k string) bool {
	switch k {
	case "name", "version", "reads", "window", "rate", "node-work":
		return true
	}
	return false
}

func (s *Source) setHeader(key, value string) error {
	var err error
	switch key {
	case "name":
		s.Name = value
	case "version":
		s.Version, err = strconv.ParseUint(value, 10, 64)
	case "reads":
		s.Reads, err = ParseReads(value)
	case "window":
		s.Window, err = time.ParseDuration(value)
	case "rate":
		s.Rate, err = parseRate(value, true)
	case "node-work":
		s.NodeWork, err = parseRate(value, false)
	}
	if err != nil {
		return sourceErr("header %s: %v", key, err)
	}
	return nil
}

// parseRate parses "N/DURATION" and, for a free rate, an optional
// "growth BITS" (default 1).
func parseRate(s string, growth bool) (*Rate, error) {
	fields := strings.Fields(s)
	if len(fields) == 0 {
		return nil, errors.New("want N/DURATION")
	}
	n, d, ok := strings.Cut(fields[0], "/")
	if !ok {
		return nil, errors.New("want N/DURATION, such as 1/10s")
	}
	count, err := strconv.Atoi(n)
	if err != nil {
		return nil, err
	}
	window, err := time.ParseDuration(d)
	if err != nil {
		return nil, err
	}
	r := &Rate{Count: count, Window: window}
	if growth {
		r.Growth = 1
	}
	switch {
	case len(fields) == 1:
	case growth && len(fields) == 3 && fields[1] == "growth":
		if r.Growth, err = strconv.Atoi(fields[2]); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("unexpected %q", strings.Join(fields[1:], " "))
	}
	return r, nil
}

// Format writes the source back as a policy file ParseFile reads.
func (s *Source) Format() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "// name: %s\n// version: %d\n// reads: %s\n", s.Name, s.Version, s.Reads)
	if s.Window != 0 {
		fmt.Fprintf(&b, "// window: %v\n", s.Window)
	}
	if s.Rate != nil {
		fmt.Fprintf(&b, "// rate: %d/%v growth %d\n", s.Rate.Count, s.Rate.Window, s.Rate.Growth)
	}
	if s.NodeWork != nil {
		fmt.Fprintf(&b, "// node-work: %d/%v\n", s.NodeWork.Count, s.NodeWork.Window)
	}
	b.WriteString(s.Expr)
	b.WriteByte('\n')
	return b.Bytes()
}

// HistoryWindow is history.in_window's window.
func (s *Source) HistoryWindow() time.Duration {
	if s.Window == 0 {
		return DefaultWindow
	}
	return s.Window
}

// Encode is the canonical binary form, as a policy transaction carries it:
//
//	name length u8 | name | version u64 | reads u8 | window u64 (ns) |
//	has-rate u8 | [count u32 | window u64 | growth u8] |
//	has-node-work u8 | [count u32 | window u64] |
//	expression length u16 | expression
//
// integers big-endian.
func (s *Source) Encode() []byte {
	b := []byte{byte(len(s.Name))}
	b = append(b, s.Name...)
	b = binary.BigEndian.AppendUint64(b, s.Version)
	b = append(b, byte(s.Reads))
	b = binary.BigEndian.AppendUint64(b, uint64(s.Window))
	for i, r := range []*Rate{s.Rate, s.NodeWork} {
		if r == nil {
			b = append(b, 0)
			continue
		}
		b = append(b, 1)
		b = binary.BigEndian.AppendUint32(b, uint32(r.Count))
		b = binary.BigEndian.AppendUint64(b, uint64(r.Window))
		if i == 0 {
			b = append(b, byte(r.Growth))
		}
	}
	b = binary.BigEndian.AppendUint16(b, uint16(len(s.Expr)))
	return append(b, s.Expr...)
}

// Decode parses the canonical form and nothing else (trailing bytes,
// flags other than 0 or 1 are malformed), and validates it.
func Decode(p []byte) (*Source, error) {
	d := reader{b: p}
	s := &Source{}
	s.Name = string(d.take(int(d.u8())))
	s.Version = d.u64()
	s.Reads = Reads(d.u8())
	s.Window = time.Duration(d.u64())
	for i := range 2 {
		switch d.u8() {
		case 0:
			continue
		case 1:
		default:
			d.fail("a presence flag must be 0 or 1")
		}
		r := &Rate{Count: int(d.u32()), Window: time.Duration(d.u64())}
		if i == 0 {
			r.Growth = int(d.u8())
			s.Rate = r
		} else {
			s.NodeWork = r
		}
	}
	s.Expr = string(d.take(int(d.u16())))
	if d.err == nil && len(d.b) > 0 {
		d.fail(fmt.Sprintf("%d trailing bytes", len(d.b)))
	}
	if d.err != nil {
		return nil, d.err
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return s, nil
}

type reader struct {
	b   []byte
	err error
}

func (d *reader) fail(msg string) {
	if d.err == nil {
		d.err = sourceErr("%s", msg)
	}
}

func (d *reader) take(n int) []byte {
	if d.err != nil {
		return nil
	}
	if len(d.b) < n {
		d.fail("truncated")
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *reader) u8() uint8 {
	if v := d.take(1); v != nil {
		return v[0]
	}
	return 0
}

func (d *reader) u16() uint16 {
	if v := d.take(2); v != nil {
		return binary.BigEndian.Uint16(v)
	}
	return 0
}

func (d *reader) u32() uint32 {
	if v := d.take(4); v != nil {
		return binary.BigEndian.Uint32(v)
	}
	return 0
}

func (d *reader) u64() uint64 {
	if v := d.take(8); v != nil {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}
