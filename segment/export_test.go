package segment

// BudgetWaiters is how many wait for a slot of b.
func BudgetWaiters(b *Budget) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.waiters)
}

// WarmReady is how many connections dialed ahead w holds, to any address.
func WarmReady(w *Warmer) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, cs := range w.ready {
		n += len(cs)
	}
	return n
}
