package segment

// BudgetWaiters is how many wait for a slot of b.
func BudgetWaiters(b *Budget) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.waiters)
}
