package network

import (
	"context"
	"fmt"
	"sync"

	"github.com/tangled-ledger/tangled/dag"
)

// Gate wraps a Transport so that links to chosen keys can be cut and
// refused while the rest of the network goes on: partitions in scenario
// tests over real QUIC, or an operator's block list.
type Gate struct {
	Transport

	mu      sync.Mutex
	blocked map[dag.PublicKey]bool
	conns   map[Conn]struct{}
}

// NewGate wraps tr.
func NewGate(tr Transport) *Gate {
	return &Gate{Transport: tr, blocked: map[dag.PublicKey]bool{}, conns: map[Conn]struct{}{}}
}

// Block closes every connection to the keys and refuses new ones.
func (g *Gate) Block(keys ...dag.PublicKey) {
	g.mu.Lock()
	var cut []Conn
	for _, k := range keys {
		g.blocked[k] = true
	}
	for c := range g.conns {
		if g.blocked[c.RemoteKey()] {
			cut = append(cut, c)
			delete(g.conns, c)
		}
	}
	g.mu.Unlock()
	for _, c := range cut {
		_ = c.CloseWithError(CodeNormal, "link cut")
	}
}

// Unblock lets the keys connect again (all keys when none are given).
func (g *Gate) Unblock(keys ...dag.PublicKey) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(keys) == 0 {
		clear(g.blocked)
	}
	for _, k := range keys {
		delete(g.blocked, k)
	}
}

// admit tracks c unless its key is blocked.
func (g *Gate) admit(c Conn) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.blocked[c.RemoteKey()] {
		return false
	}
	for old := range g.conns { // forget closed connections
		select {
		case <-old.Done():
			delete(g.conns, old)
		default:
		}
	}
	g.conns[c] = struct{}{}
	return true
}

// Dial implements Transport.
func (g *Gate) Dial(ctx context.Context, addr string, expect dag.PublicKey) (Conn, error) {
	g.mu.Lock()
	blocked := expect != (dag.PublicKey{}) && g.blocked[expect]
	g.mu.Unlock()
	if blocked {
		return nil, fmt.Errorf("%w: %s is blocked", ErrUnreachable, addr)
	}
	c, err := g.Transport.Dial(ctx, addr, expect)
	if err != nil {
		return nil, err
	}
	if !g.admit(c) {
		_ = c.CloseWithError(CodeNormal, "link cut")
		return nil, fmt.Errorf("%w: %s is blocked", ErrUnreachable, addr)
	}
	return c, nil
}

// Accept implements Transport.
func (g *Gate) Accept(ctx context.Context) (Conn, error) {
	for {
		c, err := g.Transport.Accept(ctx)
		if err != nil {
			return nil, err
		}
		if g.admit(c) {
			return c, nil
		}
		_ = c.CloseWithError(CodeNormal, "link cut")
	}
}
