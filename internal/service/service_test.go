package service

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/eidlink/eidlink/internal/command"
	"github.com/eidlink/eidlink/internal/cryptoki"
	"github.com/eidlink/eidlink/internal/ipc"
	"github.com/eidlink/eidlink/internal/ipc/ipcserver"
	"github.com/eidlink/eidlink/internal/protocol"
	"github.com/eidlink/eidlink/internal/testenv"
	"github.com/eidlink/eidlink/relyingparty"
)

const (
	testPIN    = "24681357"
	testOrigin = "https://serviziweb2.inps.it"
)

// newCard creates a SoftHSM2 virtual card and points this process's
// environment at it.
func newCard(t testing.TB) *cryptoki.TestCardResult {
	t.Helper()
	testenv.NeedSoftHSM(t)
	card, err := cryptoki.InitTestCard(cryptoki.TestCardOptions{Dir: filepath.Join(t.TempDir(), "card"), Type: "cns", PIN: testPIN})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range card.Env {
		t.Setenv(e.Name, e.Value)
	}
	return card
}

// testService is a service running in this process on a Unix socket in a
// temporary directory, with the PKCS#11 provider p (nil: none).
type testService struct {
	*Server
	paths   ipc.Paths
	refused refusals
}

// refusals records the server's refusals.
type refusals struct {
	mu   sync.Mutex
	seen []ipcserver.Refusal
}

func (r *refusals) add(x ipcserver.Refusal) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen = append(r.seen, x)
}

func (r *refusals) list() []ipcserver.Refusal {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]ipcserver.Refusal(nil), r.seen...)
}

func startService(t testing.TB, p command.Provider, events <-chan protocol.EventMessage, endpoint string) *testService {
	t.Helper()
	dir := t.TempDir()
	ts := &testService{paths: ipc.Paths{Secret: filepath.Join(dir, "config", "service.key"), Endpoint: ipc.Endpoint{Network: "unix", Address: filepath.Join(dir, "run", "service.sock")}, Run: filepath.Join(dir, "run")}}
	if endpoint != "" {
		var err error
		if ts.paths.Endpoint, err = ipc.ParseEndpoint(endpoint); err != nil {
			t.Fatal(err)
		}
	}
	if p == nil {
		p = command.Cards[*cryptoki.Card](cryptoki.NewProvider(cryptoki.Config{Modules: []cryptoki.Module{}}))
	}
	srv, err := Listen(Config{
		Command: command.Config{Provider: p, Version: protocol.Version, PINTimeout: 10 * time.Second},
		Paths:   ts.paths,
		Events:  events,
		Refused: ts.refused.add,
	})
	if err != nil {
		t.Fatal(err)
	}
	ts.Server = srv
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return ts
}

func (ts *testService) dial(t testing.TB) *ipc.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := ipc.Dial(ctx, ts.paths)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// cardProvider is the SoftHSM2 provider of the card newCard made.
func cardProvider(t testing.TB, card *cryptoki.TestCardResult) command.Provider {
	p := cryptoki.NewProvider(cryptoki.Config{Modules: []cryptoki.Module{{Name: "SoftHSM2", Path: card.Module}}})
	t.Cleanup(func() { p.Close() })
	return command.Cards[*cryptoki.Card](p)
}

// exchange sends msg and returns the next message that is not an event.
func exchange(c *ipc.Conn, msg string) (map[string]json.RawMessage, error) {
	if msg != "" {
		if err := c.Send([]byte(msg)); err != nil {
			return nil, err
		}
	}
	for {
		b, err := c.Recv()
		if err != nil {
			return nil, err
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, err
		}
		if m["event"] == nil {
			return m, nil
		}
	}
}

// waitFor polls cond until it holds, failing the test after 10 s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func newNonce() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

func authenticateMsg(nonce string) string {
	return `{"command":"authenticate","arguments":{"challengeNonce":"` + nonce + `","origin":"` + testOrigin + `"}}`
}

// authenticate runs a whole login on c and returns the token.
func authenticate(c *ipc.Conn, nonce string) ([]byte, error) {
	m, err := exchange(c, authenticateMsg(nonce))
	if err != nil {
		return nil, err
	}
	if e, ok := errCode(m); ok {
		return nil, &e
	}
	if m["pinRequest"] == nil {
		return nil, fmt.Errorf("want a PIN request, got %s", mustJSON(m))
	}
	if m, err = exchange(c, `{"command":"pin","arguments":{"pin":"`+testPIN+`"}}`); err != nil {
		return nil, err
	}
	if m["signature"] == nil {
		return nil, fmt.Errorf("want a token, got %s", mustJSON(m))
	}
	return mustJSON(m), nil
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

func verifier(t testing.TB, card *cryptoki.TestCardResult) *relyingparty.Verifier {
	roots, err := relyingparty.LoadCertPool(card.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	v, err := relyingparty.New(relyingparty.Config{Roots: roots})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// overlap wraps a Provider and records how many of its cards are open at
// once.
type overlap struct {
	command.Provider
	mu        sync.Mutex
	open, max int
}

func (o *overlap) Open(ctx context.Context) (command.Card, error) {
	c, err := o.Provider.Open(ctx)
	if err != nil {
		return nil, err
	}
	o.mu.Lock()
	o.open++
	o.max = max(o.max, o.open)
	o.mu.Unlock()
	return &overlapCard{Card: c, o: o}, nil
}

type overlapCard struct {
	command.Card
	o    *overlap
	once sync.Once
}

func (c *overlapCard) Close() error {
	c.once.Do(func() {
		c.o.mu.Lock()
		c.o.open--
		c.o.mu.Unlock()
	})
	return c.Card.Close()
}

func TestConcurrentAuthenticate(t *testing.T) {
	card := newCard(t)
	o := &overlap{Provider: cardProvider(t, card)}
	ts := startService(t, o, nil, "")
	v := verifier(t, card)
	const n = 50
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			c, err := ipc.Dial(ctx, ts.paths)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			nonce := newNonce()
			tok, err := authenticate(c, nonce)
			for isBusy(err) { // another login's PIN request is open
				time.Sleep(time.Duration(mrand.IntN(20)) * time.Millisecond) // the user tries again later
				tok, err = authenticate(c, nonce)
			}
			if err != nil {
				errs <- fmt.Errorf("client %d: %w", i, err)
				return
			}
			if _, err := v.Verify(ctx, tok, testOrigin, nonce); err != nil {
				errs <- fmt.Errorf("client %d: the token does not verify for its nonce: %w", i, err)
			} else if _, err := v.Verify(ctx, tok, testOrigin, newNonce()); err == nil {
				errs <- fmt.Errorf("client %d: the token verifies for another nonce", i)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if o.max != 1 {
		t.Errorf("%d cards were open at once, want 1", o.max)
	}
}

// A login behind another's open PIN request is told at once; when the
// other's connection closes, the card is free.
func TestClosedConnectionReleasesCard(t *testing.T) {
	card := newCard(t)
	ts := startService(t, cardProvider(t, card), nil, "")
	a, b := ts.dial(t), ts.dial(t)
	if m, err := exchange(a, authenticateMsg(newNonce())); err != nil || m["pinRequest"] == nil {
		t.Fatalf("a: %s %v", mustJSON(m), err)
	}
	if _, err := authenticate(b, newNonce()); !isBusy(err) {
		t.Fatalf("b behind a's PIN request: %v, want a retryable %s", err, protocol.CodeBusy)
	}
	a.Close()
	q := ts.cfg.Command.Provider.(*queued)
	waitFor(t, "a's card to be released", func() bool {
		q.lock.mu.Lock()
		defer q.lock.mu.Unlock()
		return !q.lock.held
	})
	if m, err := exchange(b, authenticateMsg(newNonce())); err != nil || m["pinRequest"] == nil {
		t.Fatalf("b after a closed: %s %v", mustJSON(m), err)
	}
}

// isBusy tells a retryable ERR_EIDLINK_BUSY from authenticate.
func isBusy(err error) bool {
	var e *protocol.Error
	return errors.As(err, &e) && e.Code == protocol.CodeBusy && e.Retryable
}

// While the holder of the card waits for a PIN, the queue turns its
// waiters away and refuses new ones; after the PIN, it queues again.
func TestCardLockTurnsAwayBehindPrompt(t *testing.T) {
	l := newCardLock()
	ctx := context.Background()
	l.Lock(ctx)
	waited := make(chan error, 1)
	go func() { waited <- l.Lock(ctx) }()
	waitFor(t, "a waiter", func() bool { return parked(t) == 1 })
	l.setPrompt(true)
	if err := <-waited; err != errPrompt {
		t.Fatalf("the waiter got %v, want errPrompt", err)
	}
	if err := l.Lock(ctx); err != errPrompt {
		t.Fatalf("Lock during the prompt = %v, want errPrompt", err)
	}
	l.setPrompt(false)
	go func() { waited <- l.Lock(ctx) }()
	waitFor(t, "a waiter after the prompt", func() bool { return parked(t) == 1 })
	l.Unlock()
	if err := <-waited; err != nil {
		t.Fatalf("after the prompt the waiter got %v", err)
	}
}

func TestCardLockIsFIFOAndCancellable(t *testing.T) {
	l := newCardLock()
	ctx := context.Background()
	l.Lock(ctx)
	order := make(chan int, 3)
	cctx, cancel := context.WithCancel(ctx)
	queued := func(i int, ctx context.Context) {
		if l.Lock(ctx) == nil {
			order <- i
			l.Unlock()
		}
	}
	wait := func(n int) {
		waitFor(t, fmt.Sprint(n, " waiters"), func() bool { return parked(t) == n })
	}
	go queued(1, ctx)
	wait(1)
	go queued(2, cctx)
	wait(2)
	go queued(3, ctx)
	wait(3)
	cancel()
	wait(2)
	l.Unlock()
	if a, b := <-order, <-order; a != 1 || b != 3 {
		t.Fatalf("order %d, %d; want 1, 3 (2 gave up)", a, b)
	}
	if err := l.Lock(ctx); err != nil || !l.held {
		t.Fatal("the lock was not free at the end")
	}
}

func TestStatusThroughService(t *testing.T) {
	ts := startService(t, nil, nil, "")
	m, err := exchange(ts.dial(t), `{"command":"status"}`)
	if err != nil {
		t.Fatal(err)
	}
	var st protocol.Status
	json.Unmarshal(mustJSON(m), &st)
	if st.Mode != "service" || st.Service == nil || !st.Service.Running || st.Service.Endpoint != ts.Endpoint().String() {
		t.Fatalf("status %s", mustJSON(m))
	}
}

func TestQuitEndsSession(t *testing.T) {
	ts := startService(t, nil, nil, "")
	c := ts.dial(t)
	if m, err := exchange(c, `{"command":"quit"}`); err != nil || len(m) != 0 {
		t.Fatalf("quit: %s %v", mustJSON(m), err)
	}
	if _, err := c.Recv(); !ipc.Ended(err) {
		t.Fatalf("after quit: %v, want a normal closure", err)
	}
}

func TestEventsFanOut(t *testing.T) {
	events := make(chan protocol.EventMessage)
	ts := startService(t, nil, events, "")
	a, b := ts.dial(t), ts.dial(t)
	ev := protocol.EventMessage{Event: "card-inserted", Data: protocol.ReaderStatus{Name: "R", CardPresent: true}}
	events <- ev
	for _, c := range []*ipc.Conn{a, b} {
		msg, err := c.Recv()
		if err != nil || string(msg) != string(mustJSON(ev)) {
			t.Fatalf("got %s %v, want %s", msg, err, mustJSON(ev))
		}
	}
}
