package segment

import "sync"

// buffers hands out the copy buffers of one fetch's connections, each of
// size bytes, from one mapping made at the first take for count of them
// (newSlab), and frees them together once every worker has exited. A
// buffer's first write faults its pages in: 64 faults for 256 KiB, about
// 0.75 ms on this VM, every connection at its start, while one mapping of
// 2 MiB pages (where the system has them) takes a fault per 2 MiB: 16
// connections' 4 MiB were 13-14 ms of faults, and 0.3-0.6 ms in 2 MiB
// pages.
type buffers struct {
	size, count int

	mu    sync.Mutex
	mem   []byte // what is left to hand out
	frees []func()
}

// take returns a buffer of b.size bytes. Each starts on a page, as a
// mapping of its own would (see skew). Past count of them, each is mapped
// on its own.
func (b *buffers) take() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	stride := (b.size + Block - 1) / Block * Block
	if b.frees == nil {
		mem, free := newSlab(stride * b.count)
		b.mem, b.frees = mem, []func(){free}
	}
	if len(b.mem) < b.size {
		buf, free := newBuffer(b.size)
		b.frees = append(b.frees, free)
		return buf
	}
	buf := b.mem[:b.size:b.size]
	b.mem = b.mem[min(stride, len(b.mem)):]
	return buf
}

// release frees every buffer handed out: none may be used after.
func (b *buffers) release() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, free := range b.frees {
		free()
	}
	b.mem, b.frees = nil, nil
}
