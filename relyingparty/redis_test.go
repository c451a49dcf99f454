package relyingparty

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eidlink/eidlink/internal/redistest"
	"github.com/eidlink/eidlink/internal/webinput"
)

const testPrefix = "eidlink-test:nonce:"

func redisStore(t *testing.T, srv *redistest.Server) *RedisNonceStore {
	c := srv.Client()
	t.Cleanup(func() { c.Close() })
	return NewRedisNonceStore(c, time.Minute, testPrefix)
}

func TestRedisNonceStore(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t)
	s := redisStore(t, srv)
	a, err := s.Issue(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != 44 || webinput.ValidateNonce(a) != nil {
		t.Fatalf("nonce %q is not 44 characters of base64", a)
	}
	ttl := s.client.PTTL(ctx, testPrefix+a).Val()
	if ttl <= 0 || ttl > time.Minute {
		t.Fatalf("the nonce's key expires in %v, want (0, 1m]", ttl)
	}
	if err := s.Consume(ctx, a); err != nil {
		t.Fatalf("first Consume: %v", err)
	}
	if err := s.Consume(ctx, a); !errors.Is(err, ErrNonceUsed) {
		t.Fatalf("second Consume = %v, want ErrNonceUsed", err)
	}
	if ttl := s.client.PTTL(ctx, testPrefix+a).Val(); ttl <= 0 {
		t.Fatalf("the used mark expires in %v: it must keep the nonce's expiry", ttl)
	}
	if err := s.Consume(ctx, randomNonce()); !errors.Is(err, ErrNonceUnknown) {
		t.Fatalf("Consume of a nonce never issued = %v, want ErrNonceUnknown", err)
	}
}

// TestRedisNonceStoreShared is two verifier instances, each with its own
// client, on one Redis: a nonce one issues the other accepts, once, even
// when both consume it from many goroutines at the same time.
func TestRedisNonceStoreShared(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t)
	stores := []NonceStore{redisStore(t, srv), redisStore(t, srv)}
	for i := range 100 {
		n, err := stores[i%2].Issue(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var wins atomic.Int32
		var wg sync.WaitGroup
		for g := range 16 {
			wg.Go(func() {
				if stores[g%2].Consume(ctx, n) == nil {
					wins.Add(1)
				}
			})
		}
		wg.Wait()
		if wins.Load() != 1 {
			t.Fatalf("nonce %d accepted %d times", i, wins.Load())
		}
	}
}

// TestRedisNonceStoreRestart stops Redis between issue and use: logins
// fail closed with ReasonNonceStore while it is down, and after the
// restart no nonce issued before it is accepted, used or not.
func TestRedisNonceStoreRestart(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t)
	s := redisStore(t, srv)
	p := getPKI()
	v := p.verifier(t, nil)

	usedNonce, _ := s.Issue(ctx)
	if _, err := v.VerifyChallenge(ctx, s, createToken(t, p.cie, p.rsaKey, testOrigin, usedNonce), testOrigin, usedNonce); err != nil {
		t.Fatalf("login before the restart: %v", err)
	}
	pending, _ := s.Issue(ctx)
	pendingToken := createToken(t, p.cie, p.rsaKey, testOrigin, pending)

	srv.Stop()
	_, err := v.VerifyChallenge(ctx, s, pendingToken, testOrigin, pending)
	if ReasonOf(err) != ReasonNonceStore || !errors.Is(err, ErrNonceStoreDown) {
		t.Fatalf("login while Redis is unreachable = %v, want reason %s wrapping ErrNonceStoreDown", err, ReasonNonceStore)
	}
	if _, err := s.Issue(ctx); !errors.Is(err, ErrNonceStoreDown) {
		t.Fatalf("Issue while Redis is down = %v, want ErrNonceStoreDown", err)
	}

	srv.Restart()
	for name, n := range map[string]string{"used": usedNonce, "pending": pending} {
		tok := createToken(t, p.cie, p.rsaKey, testOrigin, n)
		if _, err := v.VerifyChallenge(ctx, s, tok, testOrigin, n); ReasonOf(err) != ReasonNonceUnknown {
			t.Errorf("%s nonce after the restart = %v, want reason %s", name, err, ReasonNonceUnknown)
		}
	}
	fresh, err := s.Issue(ctx)
	if err != nil {
		t.Fatalf("Issue after the restart: %v", err)
	}
	if _, err := v.VerifyChallenge(ctx, s, createToken(t, p.cie, p.rsaKey, testOrigin, fresh), testOrigin, fresh); err != nil {
		t.Fatalf("login after the restart: %v", err)
	}
}
