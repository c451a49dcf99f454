package relyingparty

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eidlink/eidlink/internal/redistest"
	"github.com/eidlink/eidlink/internal/webinput"
	"github.com/redis/go-redis/v9"
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

// roundTrips counts the commands and pipelines a client sends.
type roundTrips struct{ n atomic.Int32 }

func (*roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmd)
	}
}
func (h *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmds)
	}
}

// Calls made while another waits for Redis go out together, and each
// still gets its own answer: one issued nonce accepted, its replays
// refused, unknown nonces unknown.
func TestRedisNonceStoreBatches(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t)
	s := redisStore(t, srv)
	var h roundTrips
	s.client.AddHook(&h)
	const n = 200
	nonces := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			var err error
			if nonces[i], err = s.Issue(ctx); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if got := h.n.Load(); got >= n {
		t.Errorf("%d issues took %d round trips: none shared", n, got)
	}
	errs := make([]error, 3*n)
	for i := range 3 * n {
		wg.Go(func() {
			nonce := nonces[i%n]
			if i >= 2*n {
				nonce = randomNonce()
			}
			errs[i] = s.Consume(ctx, nonce)
		})
	}
	wg.Wait()
	for i := range n {
		accepted := 0
		for _, err := range []error{errs[i], errs[i+n]} {
			switch {
			case err == nil:
				accepted++
			case !errors.Is(err, ErrNonceUsed):
				t.Errorf("nonce %d: %v, want accepted once and ErrNonceUsed once", i, err)
			}
		}
		if accepted != 1 {
			t.Errorf("nonce %d accepted %d times", i, accepted)
		}
		if !errors.Is(errs[2*n+i], ErrNonceUnknown) {
			t.Errorf("a nonce never issued: %v, want ErrNonceUnknown", errs[2*n+i])
		}
	}
	// A caller that gives up while its command waits gets its context's
	// error, not another caller's answer.
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	for range 50 {
		wg.Go(func() {
			if err := s.Consume(cancelled, randomNonce()); err == nil {
				t.Error("a cancelled Consume succeeded")
			}
		})
	}
	wg.Wait()
}

// pipelineSizes records the size of each pipeline of SETs a client sends
// (not the handshake of a new connection) and, if hold is not nil, holds
// the first one until hold is closed.
type pipelineSizes struct {
	mu    sync.Mutex
	sizes []int
	hold  chan struct{}
}

func (*pipelineSizes) DialHook(next redis.DialHook) redis.DialHook          { return next }
func (*pipelineSizes) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }
func (h *pipelineSizes) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if cmds[0].Name() != "set" {
			return next(ctx, cmds)
		}
		h.mu.Lock()
		h.sizes = append(h.sizes, len(cmds))
		first := len(h.sizes) == 1
		h.mu.Unlock()
		if first && h.hold != nil {
			<-h.hold
		}
		return next(ctx, cmds)
	}
}

// A pipeline takes at most half of the calls under way: when one call's
// pipeline returns while 7 wait, 4 of them go next and 3 after, so that
// under load the calls take turns in two halves rather than one call
// keeping the CPU busy while 7 wait for Redis.
func TestRedisNonceStoreHalves(t *testing.T) {
	ctx := context.Background()
	s := redisStore(t, redistest.Start(t))
	h := &pipelineSizes{hold: make(chan struct{})}
	s.client.AddHook(h)
	errs := make(chan error, 8)
	go func() { errs <- s.Consume(ctx, randomNonce()) }()
	waiting := func(n int) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
			s.mu.Lock()
			h.mu.Lock()
			ok := len(h.sizes) == 1 && len(s.pending) == n
			h.mu.Unlock()
			s.mu.Unlock()
			if ok {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for one pipeline out and %d calls pending", n)
			}
		}
	}
	waiting(0)
	for range 7 {
		go func() { errs <- s.Consume(ctx, randomNonce()) }()
	}
	waiting(7)
	close(h.hold)
	for range 8 {
		if err := <-errs; !errors.Is(err, ErrNonceUnknown) {
			t.Errorf("Consume of a nonce never issued = %v, want ErrNonceUnknown", err)
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if want := []int{1, 4, 3}; !slices.Equal(h.sizes, want) {
		t.Errorf("pipeline sizes %v, want %v", h.sizes, want)
	}
}

// Calls that goroutines ready to run make at the same time go out
// together, the first included: a call that finds no pipeline out waits
// for their turn rather than going alone. (On one core, with Redis
// answering before the caller would wait, each call would otherwise pay
// a round trip of its own.)
func TestRedisNonceStoreFirstPipeline(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	ctx := context.Background()
	s := redisStore(t, redistest.Start(t))
	h := &pipelineSizes{}
	s.client.AddHook(h)
	// Go's scheduler now and then runs a yielding goroutine before the
	// others ready to run: of 10 bursts, one suffices.
	var firsts []int
	for range 10 {
		h.mu.Lock()
		h.sizes = nil
		h.mu.Unlock()
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				if err := s.Consume(ctx, randomNonce()); !errors.Is(err, ErrNonceUnknown) {
					t.Errorf("Consume of a nonce never issued = %v, want ErrNonceUnknown", err)
				}
			})
		}
		wg.Wait()
		h.mu.Lock()
		firsts = append(firsts, h.sizes[0])
		h.mu.Unlock()
		if firsts[len(firsts)-1] > 1 {
			return
		}
	}
	t.Errorf("the first pipelines of 10 bursts of 8 calls: %v; want one that carries more than its own call", firsts)
}
