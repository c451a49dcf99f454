package command

import (
	"bytes"
	"sync"
	"time"
)

// syncBuffer is a bytes.Buffer that a test can wait on.
type syncBuffer struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	cond *sync.Cond
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cond == nil {
		b.cond = sync.NewCond(&b.mu)
	}
	defer b.cond.Broadcast()
	return b.buf.Write(p)
}

// wait blocks until ok holds for the contents; it panics after 10 s so a
// broken test fails instead of hanging.
func (b *syncBuffer) wait(ok func([]byte) bool) {
	deadline := time.AfterFunc(10*time.Second, func() { panic("syncBuffer: condition not met in 10s") })
	defer deadline.Stop()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cond == nil {
		b.cond = sync.NewCond(&b.mu)
	}
	for !ok(b.buf.Bytes()) {
		b.cond.Wait()
	}
}

func (b *syncBuffer) bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes())
}
