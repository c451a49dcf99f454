package service

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"testing"
)

// parked counts the goroutines of the running test that wait in a card
// lock's queue. The semaphore does not say how many wait; a goroutine
// parked in its Acquire has joined the queue, in the order the tests
// need to know.
func parked(t *testing.T) int {
	buf := make([]byte, 1<<16)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	mine := []byte("service." + t.Name() + ".")
	count := 0
	for _, g := range bytes.Split(buf, []byte("\n\n")) {
		header, _, _ := bytes.Cut(g, []byte("\n"))
		if bytes.Contains(header, []byte(" [select")) && bytes.Contains(g, []byte("semaphore.(*Weighted).Acquire(")) && bytes.Contains(g, mine) {
			count++
		}
	}
	return count
}

// Waiters get the card in the order they came, whoever's context ends in
// the middle.
func TestCardLockOrder(t *testing.T) {
	const n = 6
	l := newCardLock()
	ctx := context.Background()
	l.Lock(ctx)
	order, gaveUp := make(chan int, n), make(chan int, n)
	ctxs := make([]context.Context, n)
	cancels := make([]context.CancelFunc, n)
	for i := range n {
		ctxs[i], cancels[i] = context.WithCancel(ctx)
		defer cancels[i]()
		go func() {
			if l.Lock(ctxs[i]) != nil {
				gaveUp <- i
				return
			}
			order <- i
			l.Unlock()
		}()
		waitFor(t, fmt.Sprint(i+1, " waiters"), func() bool { return parked(t) == i+1 })
	}
	cancels[2]()
	cancels[4]()
	if a, b := <-gaveUp, <-gaveUp; a+b != 6 || a*b != 8 {
		t.Fatalf("%d and %d gave up, want 2 and 4", a, b)
	}
	l.Unlock()
	var got []int
	for range n - 2 {
		got = append(got, <-order)
	}
	if fmt.Sprint(got) != "[0 1 3 5]" {
		t.Fatalf("order %v, want [0 1 3 5] (2 and 4 gave up)", got)
	}
	waitFor(t, "the lock free at the end", func() bool { return l.sem.TryAcquire(1) })
}
