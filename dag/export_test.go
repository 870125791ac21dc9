package dag

// ResidentNodes counts the transactions the ledger holds in memory.
func ResidentNodes(l *Ledger) int {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return len(l.mu.nodes)
}

// IsResident reports whether id is in the ledger's memory.
func IsResident(l *Ledger, id ID) bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	_, ok := l.mu.nodes[id]
	return ok
}
