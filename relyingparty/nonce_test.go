package relyingparty

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/eidlink/eidlink/internal/webinput"
)

func TestMemoryNonceStore(t *testing.T) {
	ctx := context.Background()
	now := testNow
	s := NewMemoryNonceStore(0)
	s.now = func() time.Time { return now }

	a, err := s.Issue(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != 44 || webinput.ValidateNonce(a) != nil {
		t.Fatalf("nonce %q is not 44 characters of base64", a)
	}
	b, _ := s.Issue(ctx)
	if a == b {
		t.Fatal("two nonces are equal")
	}
	if err := s.Consume(ctx, a); err != nil {
		t.Fatalf("first Consume: %v", err)
	}
	if err := s.Consume(ctx, a); !errors.Is(err, ErrNonceUsed) {
		t.Fatalf("second Consume = %v, want ErrNonceUsed", err)
	}
	if err := s.Consume(ctx, randomNonce()); !errors.Is(err, ErrNonceUnknown) {
		t.Fatalf("Consume of a nonce never issued = %v, want ErrNonceUnknown", err)
	}

	now = now.Add(DefaultNonceTTL - time.Second)
	c, _ := s.Issue(ctx)
	now = now.Add(time.Second) // a and b expire, c lives
	if err := s.Consume(ctx, b); !errors.Is(err, ErrNonceExpired) {
		t.Fatalf("Consume after the TTL = %v, want ErrNonceExpired", err)
	}
	if len(s.nonces) != 1 || len(s.order) != 1 {
		t.Fatalf("after expiry the store holds %d nonces (%d in order), want 1", len(s.nonces), len(s.order))
	}
	if err := s.Consume(ctx, c); err != nil {
		t.Fatalf("Consume of a live nonce: %v", err)
	}
}

func TestMemoryNonceStoreCap(t *testing.T) {
	ctx := context.Background()
	now := testNow
	s := NewMemoryNonceStore(time.Minute)
	s.now = func() time.Time { return now }
	s.max = 3
	for range 3 {
		if _, err := s.Issue(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Issue(ctx); !errors.Is(err, ErrTooManyNonces) {
		t.Fatalf("Issue beyond the cap = %v, want ErrTooManyNonces", err)
	}
	now = now.Add(time.Minute)
	if _, err := s.Issue(ctx); err != nil {
		t.Fatalf("Issue once the others expired: %v", err)
	}
}

// TestMemoryNonceStoreConcurrent consumes each nonce from several
// goroutines at once: exactly one must win (run with -race).
func TestMemoryNonceStoreConcurrent(t *testing.T) {
	ctx := context.Background()
	s := NewMemoryNonceStore(0)
	for range 50 {
		n, err := s.Issue(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		wins := 0
		for range 4 {
			wg.Go(func() {
				if s.Consume(ctx, n) == nil {
					mu.Lock()
					wins++
					mu.Unlock()
				}
				s.Issue(ctx)
			})
		}
		wg.Wait()
		if wins != 1 {
			t.Fatalf("nonce consumed %d times", wins)
		}
	}
}

func TestNonceStoreFailure(t *testing.T) {
	p := getPKI()
	_, err := p.verifier(t, nil).VerifyChallenge(context.Background(), failingStore{}, []byte("{}"), testOrigin, randomNonce())
	if ReasonOf(err) != ReasonNonceStore {
		t.Fatalf("got %v, want reason %s", err, ReasonNonceStore)
	}
}

type failingStore struct{}

func (failingStore) Issue(context.Context) (string, error) { return "", errors.New("database down") }
func (failingStore) Consume(context.Context, string) error { return errors.New("database down") }
