package sequencer

import "sync/atomic"

// ByteBudget counts the data bytes a write queue holds, within a limit:
// with the queue's length it bounds the memory a flood of large writes can
// pin. The count never passes the limit, not even for a moment. Safe for
// concurrent use.
type ByteBudget struct {
	limit int64
	used  atomic.Int64
}

// NewByteBudget returns a budget of limit bytes.
func NewByteBudget(limit int64) *ByteBudget { return &ByteBudget{limit: limit} }

// Reserve counts n bytes as held if that keeps the count within the limit.
func (b *ByteBudget) Reserve(n int64) bool {
	for {
		q := b.used.Load()
		if n > 0 && q+n > b.limit {
			return false
		}
		if b.used.CompareAndSwap(q, q+n) {
			return true
		}
	}
}

// Release gives n reserved bytes back.
func (b *ByteBudget) Release(n int64) { b.used.Add(-n) }

// Used is the count of bytes held.
func (b *ByteBudget) Used() int64 { return b.used.Load() }
