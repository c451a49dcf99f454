package bounded_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/eidlink/eidlink/internal/bounded"
)

func TestCallReturnsResult(t *testing.T) {
	var g bounded.Gate
	v, err := bounded.Call(t.Context(), &g, time.Minute, func() (int, error) { return 7, nil }, nil)
	if v != 7 || err != nil {
		t.Fatalf("got %d, %v", v, err)
	}
	want := errors.New("card error")
	if err := bounded.Do(t.Context(), &g, 0, func() error { return want }); err != want {
		t.Fatalf("got %v, want %v", err, want)
	}
}

// A call that never answers is abandoned after its bound; until it
// returns, the gate refuses calls without running them; its late result
// is handed to drop.
func TestWedgedCall(t *testing.T) {
	var g bounded.Gate
	release := make(chan struct{})
	dropped := make(chan int, 1)
	_, err := bounded.Call(t.Context(), &g, 10*time.Millisecond, func() (int, error) {
		<-release
		return 42, nil
	}, func(v int) { dropped <- v })
	if !errors.Is(err, bounded.ErrTimeout) {
		t.Fatalf("wedged call: %v, want ErrTimeout", err)
	}
	if !g.Stuck() {
		t.Fatal("gate not stuck while the abandoned call runs")
	}
	ran := false
	if err := bounded.Do(t.Context(), &g, time.Minute, func() error { ran = true; return nil }); !errors.Is(err, bounded.ErrStuck) || ran {
		t.Fatalf("call while stuck: %v (ran %v), want ErrStuck without running", err, ran)
	}
	close(release)
	select {
	case v := <-dropped:
		if v != 42 {
			t.Fatalf("dropped %d", v)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the late result was never dropped")
	}
	if g.Stuck() {
		t.Fatal("gate still stuck after the call returned")
	}
	if err := bounded.Do(t.Context(), &g, time.Minute, func() error { ran = true; return nil }); err != nil || !ran {
		t.Fatalf("call after recovery: %v (ran %v)", err, ran)
	}
}

// Cancelling the context ends the wait at once, with ctx's error.
func TestCancelledWait(t *testing.T) {
	var g bounded.Gate
	release := make(chan struct{})
	defer close(release)
	ctx, cancel := context.WithCancel(t.Context())
	started := make(chan struct{})
	go func() { <-started; cancel() }()
	err := bounded.Do(ctx, &g, 0, func() error { close(started); <-release; return nil })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	if err := bounded.Do(ctx, &g, 0, func() error { return nil }); !errors.Is(err, bounded.ErrStuck) {
		t.Fatalf("got %v, want ErrStuck", err)
	}
}
