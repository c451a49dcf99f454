package relyingparty

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"sync"
	"time"
)

// NonceStore issues challenge nonces and lets each be consumed once.
// Implement it over a shared database when the site runs on several
// servers.
type NonceStore interface {
	// Issue returns a new nonce of at least 32 random bytes in standard
	// base64.
	Issue(ctx context.Context) (string, error)
	// Consume spends nonce. It fails, wrapping ErrNonceUnknown,
	// ErrNonceUsed or ErrNonceExpired, unless nonce was issued, is unused
	// and has not expired.
	Consume(ctx context.Context, nonce string) error
}

// The errors of nonce stores. VerifyChallenge reports the first three as
// ReasonNonceUnknown, ReasonNonceReplayed and ReasonNonceExpired, and any
// other error of Consume as ReasonNonceStore.
var (
	ErrNonceUnknown  = errors.New("the challenge nonce was not issued by this site, or it expired (a Redis store forgets expired nonces): ask for a new challenge")
	ErrNonceUsed     = errors.New("the challenge nonce was already used: ask for a new challenge")
	ErrNonceExpired  = errors.New("the challenge nonce expired: ask for a new challenge")
	ErrTooManyNonces = errors.New("too many outstanding challenge nonces: try again in a few minutes")
)

// DefaultNonceTTL is how long a nonce stays valid when the store is made
// with a ttl of 0.
const DefaultNonceTTL = 5 * time.Minute

// maxOutstandingNonces caps a MemoryNonceStore; see MemoryNonceStore.
const maxOutstandingNonces = 100_000

// MemoryNonceStore is a NonceStore for one server process. It is safe for
// concurrent use and starts no goroutine: expired nonces are dropped on
// each call, in issue order.
//
// Issued nonces, used or not, are remembered until they expire, about 135
// bytes each. The store holds at most 100,000 (13 MB): when full, Issue
// fails with ErrTooManyNonces rather than forget nonces users are still
// answering. Rate-limit challenges per client in front of the store.
type MemoryNonceStore struct {
	ttl time.Duration
	max int
	now func() time.Time

	mu     sync.Mutex
	nonces map[string]*nonceState
	order  []string // issue order, which is expiry order
}

type nonceState struct {
	expires time.Time
	used    bool
}

// NewMemoryNonceStore returns an in-memory store whose nonces live for
// ttl (DefaultNonceTTL if ttl <= 0).
func NewMemoryNonceStore(ttl time.Duration) *MemoryNonceStore {
	if ttl <= 0 {
		ttl = DefaultNonceTTL
	}
	return &MemoryNonceStore{ttl: ttl, max: maxOutstandingNonces, now: time.Now, nonces: map[string]*nonceState{}}
}

// Issue returns a new nonce: 32 random bytes, 44 base64 characters.
func (s *MemoryNonceStore) Issue(context.Context) (string, error) {
	nonce := newNonce()
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.purge(now)
	if len(s.nonces) >= s.max {
		return "", ErrTooManyNonces
	}
	s.nonces[nonce] = &nonceState{expires: now.Add(s.ttl)}
	s.order = append(s.order, nonce)
	return nonce, nil
}

// newNonce returns 32 random bytes in standard base64.
func newNonce() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

// Consume spends nonce; see NonceStore.
func (s *MemoryNonceStore) Consume(_ context.Context, nonce string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	st := s.nonces[nonce]
	s.purge(now)
	switch {
	case st == nil:
		return ErrNonceUnknown
	case st.used:
		return ErrNonceUsed
	case !now.Before(st.expires):
		return fmt.Errorf("%w (it lived %s)", ErrNonceExpired, s.ttl)
	}
	st.used = true
	return nil
}

// purge forgets expired nonces. Expiry follows issue order, so it stops
// at the first live one.
func (s *MemoryNonceStore) purge(now time.Time) {
	for len(s.order) > 0 && !now.Before(s.nonces[s.order[0]].expires) {
		delete(s.nonces, s.order[0])
		s.order[0] = ""
		s.order = s.order[1:]
	}
}
