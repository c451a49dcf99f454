package service

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

// The card lock file: one holder at a time, a wait that ends with its
// context, and no wait at all behind a holder's open PIN request.
func TestCardLockFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "eidlink", "card.lock")
	ctx := context.Background()
	held, err := lockCard(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	waited := make(chan error, 1)
	go func() {
		l, err := lockCard(cctx, path)
		l.unlock()
		waited <- err
	}()
	cancel()
	select {
	case err := <-waited:
		if err != context.Canceled {
			t.Fatalf("a cancelled wait got %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a cancelled wait for the lock did not end")
	}
	held.setPrompt(true)
	if _, err := lockCard(ctx, path); err != errPrompt {
		t.Fatalf("behind a PIN request: %v, want errPrompt", err)
	}
	held.setPrompt(false)
	go func() {
		l, err := lockCard(ctx, path)
		l.unlock()
		waited <- err
	}()
	held.unlock()
	if err := <-waited; err != nil {
		t.Fatalf("after the holder: %v", err)
	}
}
