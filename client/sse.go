package client

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strconv"
	"strings"
	"time"
)

// sseMessage is one dispatched server-sent event.
type sseMessage struct {
	Type  string // "message" when the stream named none
	Data  string
	ID    string        // the last event ID seen so far
	Retry time.Duration // the last reconnection hint seen so far; 0 if none
}

// SSE limits. The node's events are a few hundred bytes; the limits only
// keep a broken or hostile server from growing the client's memory.
const (
	maxSSELine = 64 << 10
	maxSSEData = 1 << 20
)

var (
	errSSELine = errors.New("client: event stream line too long")
	errSSEData = errors.New("client: event stream event too large")
)

// sseReader parses text/event-stream as the WHATWG HTML standard
// specifies: lines end in CRLF, LF or a lone CR; a line starting with ':'
// is a comment; "field: value" loses one leading space of the value; data
// lines accumulate joined by LF; a blank line dispatches; an event without
// data is not dispatched; an unterminated event at the end is dropped.
type sseReader struct {
	r *bufio.Reader
	// skipLF is set after a CR, so that the LF of a CRLF split across two
	// reads is not taken for an empty line. A lone CR ends its line at
	// once rather than waiting to see what follows, which could be the
	// next keep-alive 15 s later.
	skipLF bool
	line   []byte

	typ   string
	data  strings.Builder
	id    string
	retry time.Duration
}

func newSSEReader(r io.Reader) *sseReader {
	return &sseReader{r: bufio.NewReaderSize(r, 4096)}
}

// next returns the next dispatched event. At the end of the input it
// returns io.EOF, whatever was pending being discarded.
func (p *sseReader) next() (sseMessage, error) {
	for {
		line, err := p.readLine()
		if err != nil {
			return sseMessage{}, err
		}
		if len(line) == 0 {
			if p.data.Len() == 0 {
				p.typ = ""
				continue
			}
			data := p.data.String()
			m := sseMessage{Type: p.typ, Data: data[:len(data)-1], ID: p.id, Retry: p.retry}
			if m.Type == "" {
				m.Type = "message"
			}
			p.typ = ""
			p.data.Reset()
			return m, nil
		}
		if line[0] == ':' {
			continue
		}
		field, value, found := bytes.Cut(line, []byte{':'})
		if found && len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
		switch string(field) {
		case "event":
			p.typ = string(value)
		case "data":
			if p.data.Len()+len(value)+1 > maxSSEData {
				return sseMessage{}, errSSEData
			}
			p.data.Write(value)
			p.data.WriteByte('\n')
		case "id":
			if bytes.IndexByte(value, 0) < 0 {
				p.id = string(value)
			}
		case "retry":
			if isDigits(value) {
				if ms, err := strconv.ParseInt(string(value), 10, 64); err == nil && ms <= int64(time.Hour/time.Millisecond) {
					p.retry = time.Duration(ms) * time.Millisecond
				}
			}
		}
	}
}

func isDigits(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// readLine returns the next line without its terminator. The slice is
// valid until the next call.
func (p *sseReader) readLine() ([]byte, error) {
	p.line = p.line[:0]
	for {
		// Peek blocks only when nothing is buffered, so a line already
		// received is returned without waiting for more.
		buf, err := p.r.Peek(max(p.r.Buffered(), 1))
		if len(buf) == 0 {
			// A last line without a terminator is dropped: its event
			// could not be dispatched without a blank line anyway.
			return nil, err
		}
		if p.skipLF {
			p.skipLF = false
			if buf[0] == '\n' {
				_, _ = p.r.Discard(1)
				continue
			}
		}
		i := bytes.IndexAny(buf, "\r\n")
		if i < 0 {
			if len(p.line)+len(buf) > maxSSELine {
				return nil, errSSELine
			}
			p.line = append(p.line, buf...)
			_, _ = p.r.Discard(len(buf))
			continue
		}
		if len(p.line)+i > maxSSELine {
			return nil, errSSELine
		}
		p.line = append(p.line, buf[:i]...)
		p.skipLF = buf[i] == '\r'
		_, _ = p.r.Discard(i + 1)
		return p.line, nil
	}
}
