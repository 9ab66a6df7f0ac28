// Package bufpool is the copy-buffer pool shared by the project's reverse
// proxies (the gateway and the load balancer): an httputil.BufferPool.
package bufpool

import "sync"

// Size is the length of every pooled buffer.
const Size = 32 << 10

// Pool implements httputil.BufferPool with Size-byte buffers.
type Pool struct{ p sync.Pool }

// New returns an empty pool.
func New() *Pool {
	return &Pool{p: sync.Pool{New: func() any {
		b := make([]byte, Size)
		return &b
	}}}
}

// Get returns a Size-byte buffer.
func (b *Pool) Get() []byte { return *(b.p.Get().(*[]byte)) }

// Put returns buf to the pool; buffers of another capacity are dropped.
func (b *Pool) Put(buf []byte) {
	if cap(buf) != Size {
		return
	}
	buf = buf[:Size]
	b.p.Put(&buf)
}
