package dag

import (
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// jsonScanner reads the flat JSON object of the transaction form. It is
// hand-written because the form is on every JSON post's path: the
// standard library's token stream allocates for every token and took
// twice as long as the signature check's share (BenchmarkDecodeJSON).
// It accepts exactly RFC 8259's grammar for the values it meets and
// reports anything else as malformed, with the byte offset.
type jsonScanner struct {
	data []byte
	pos  int
}

// jsonValueKind says what a member's value is.
type jsonValueKind uint8

const (
	jsonString jsonValueKind = iota + 1
	jsonNumber
	jsonNull
	jsonOther // true, false, an object or an array: never valid here
)

func (s *jsonScanner) errorf(format string, args ...any) error {
	return fmt.Errorf("%w: json: "+format+" at offset %d", append(append([]any{ErrMalformed}, args...), s.pos)...)
}

func (s *jsonScanner) skipSpace() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// next skips whitespace and returns the next byte without consuming it;
// 0 at the end of the input.
func (s *jsonScanner) next() byte {
	s.skipSpace()
	if s.pos == len(s.data) {
		return 0
	}
	return s.data[s.pos]
}

func (s *jsonScanner) expect(c byte) error {
	switch got := s.next(); got {
	case c:
		s.pos++
		return nil
	case 0:
		return s.errorf("unexpected end of input, want %q", c)
	default:
		return s.errorf("invalid character %q, want %q", got, c)
	}
}

// str reads a string (the opening quote is next) and returns its
// unescaped contents. The input is known to be valid UTF-8.
func (s *jsonScanner) str() (string, error) {
	if err := s.expect('"'); err != nil {
		return "", err
	}
	start := s.pos
	// The fast path: no escapes, no copy but the final string.
	for s.pos < len(s.data) {
		c := s.data[s.pos]
		switch {
		case c == '"':
			out := string(s.data[start:s.pos])
			s.pos++
			return out, nil
		case c == '\\':
			return s.escapedStr(start)
		case c < 0x20:
			return "", s.errorf("control character %q in a string", c)
		}
		s.pos++
	}
	return "", s.errorf("unterminated string")
}

// escapedStr finishes a string with escapes from s.pos (at a backslash).
func (s *jsonScanner) escapedStr(start int) (string, error) {
	out := append(make([]byte, 0, s.pos-start+16), s.data[start:s.pos]...)
	for s.pos < len(s.data) {
		c := s.data[s.pos]
		switch {
		case c == '"':
			s.pos++
			return string(out), nil
		case c < 0x20:
			return "", s.errorf("control character %q in a string", c)
		case c != '\\':
			out = append(out, c)
			s.pos++
			continue
		}
		if s.pos+1 >= len(s.data) {
			return "", s.errorf("unterminated string")
		}
		esc := s.data[s.pos+1]
		s.pos += 2
		switch esc {
		case '"', '\\', '/':
			out = append(out, esc)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, err := s.hex4()
			if err != nil {
				return "", err
			}
			if utf16.IsSurrogate(r) {
				// A surrogate must be the first half of a pair.
				if s.pos+1 < len(s.data) && s.data[s.pos] == '\\' && s.data[s.pos+1] == 'u' {
					s.pos += 2
					r2, err := s.hex4()
					if err != nil {
						return "", err
					}
					r = utf16.DecodeRune(r, r2)
				} else {
					r = utf8.RuneError
				}
				if r == utf8.RuneError {
					return "", s.errorf("invalid surrogate in a \\u escape")
				}
			}
			out = utf8.AppendRune(out, r)
		default:
			return "", s.errorf("invalid escape \\%c", esc)
		}
	}
	return "", s.errorf("unterminated string")
}

func (s *jsonScanner) hex4() (rune, error) {
	if s.pos+4 > len(s.data) {
		return 0, s.errorf("short \\u escape")
	}
	v, err := strconv.ParseUint(string(s.data[s.pos:s.pos+4]), 16, 16)
	if err != nil {
		return 0, s.errorf("invalid \\u escape")
	}
	s.pos += 4
	return rune(v), nil
}

// number reads a number literal by RFC 8259's grammar and returns it.
func (s *jsonScanner) number() (string, error) {
	start := s.pos
	digits := func() int {
		n := 0
		for s.pos < len(s.data) && '0' <= s.data[s.pos] && s.data[s.pos] <= '9' {
			s.pos++
			n++
		}
		return n
	}
	if s.pos < len(s.data) && s.data[s.pos] == '-' {
		s.pos++
	}
	switch {
	case s.pos < len(s.data) && s.data[s.pos] == '0':
		s.pos++
	case digits() == 0:
		return "", s.errorf("invalid number")
	}
	if s.pos < len(s.data) && s.data[s.pos] == '.' {
		s.pos++
		if digits() == 0 {
			return "", s.errorf("invalid number")
		}
	}
	if s.pos < len(s.data) && (s.data[s.pos] == 'e' || s.data[s.pos] == 'E') {
		s.pos++
		if s.pos < len(s.data) && (s.data[s.pos] == '+' || s.data[s.pos] == '-') {
			s.pos++
		}
		if digits() == 0 {
			return "", s.errorf("invalid number")
		}
	}
	return string(s.data[start:s.pos]), nil
}

// literal consumes one of true, false, null.
func (s *jsonScanner) literal(word string) error {
	if len(s.data)-s.pos < len(word) || string(s.data[s.pos:s.pos+len(word)]) != word {
		return s.errorf("invalid character %q", s.data[s.pos])
	}
	s.pos += len(word)
	return nil
}

// value reads a member's value. Strings and numbers are returned; null,
// booleans, objects and arrays are reported by kind and not parsed
// further (the caller refuses them).
func (s *jsonScanner) value() (jsonValueKind, string, error) {
	switch c := s.next(); {
	case c == '"':
		v, err := s.str()
		return jsonString, v, err
	case c == '-' || '0' <= c && c <= '9':
		v, err := s.number()
		return jsonNumber, v, err
	case c == 'n':
		return jsonNull, "", s.literal("null")
	case c == 't':
		return jsonOther, "", s.literal("true")
	case c == 'f':
		return jsonOther, "", s.literal("false")
	case c == '{' || c == '[':
		return jsonOther, "", nil
	case c == 0:
		return 0, "", s.errorf("unexpected end of input")
	default:
		return 0, "", s.errorf("invalid character %q", c)
	}
}
