package relyingparty

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrNonceStoreDown wraps the errors of a RedisNonceStore that cannot
// reach its server. Verification fails closed: VerifyChallenge refuses the
// token with ReasonNonceStore, and the user asks for a new challenge once
// the store is back.
var ErrNonceStoreDown = errors.New("the nonce store is unreachable: no login can be verified until it is back")

// RedisNonceStore is a NonceStore in Redis (6.2 or later), shared by every
// verifier process that uses the same server and key prefix.
//
// Issue stores the key prefix+nonce with SET NX PX ttl. Consume marks an
// issued nonce used with one SET XX KEEPTTL GET, atomic in Redis, which
// keeps the mark until the nonce expires, so a nonce is accepted at most once
// however many processes present it at the same time, and a second
// attempt is told ErrNonceUsed. go-redis may retry a command after a
// network error; a retried Consume that had already run sees the mark and
// fails: retries can refuse a login, never accept one twice.
//
// # Across a Redis restart
//
// Without persistence (save "" and appendonly no) a restart forgets
// every nonce: outstanding challenges fail with ErrNonceUnknown and their
// users log in again; a used nonce cannot come back. With persistence, a
// restart restores the data as last written to disk: with RDB snapshots
// or appendfsync everysec a nonce used after the last write reads as
// unused again, and could be accepted a second time until it expires, at
// most ttl after it was issued. To close that window run Redis with
// appendonly yes and appendfsync always (Redis writes the mark to disk
// before Consume returns), or accept a window of at most ttl. The same
// holds for a failover to a replica, which replicates asynchronously.
// While Redis is unreachable Issue and Consume fail with
// ErrNonceStoreDown, so no login is accepted.
//
// # Round trips
//
// Calls are sent in pipelines, one at a time. A call that finds none out
// goes once the goroutines ready to run have had their turn, with the
// calls they made meanwhile; calls that come while a pipeline is out go
// in a later one. A busy verifier thus pays one round trip for many
// logins, and an idle one waits for no batch to fill. A pipeline takes at
// most half of the calls under way (those waiting, and those whose
// pipeline just returned, who will soon call again): under load the
// logins fall into two halves that take turns, one half on the CPU while
// the other waits for Redis, rather than one pipeline of all but one
// login while that one alone keeps the CPU busy. Each command keeps its
// own answer, so batching changes no outcome.
type RedisNonceStore struct {
	client redis.UniversalClient
	ttl    time.Duration
	prefix string

	mu      sync.Mutex
	sending bool    // a goroutine runs send
	pending []*call // the calls not yet sent, in order
}

// call is a command waiting to be sent with others.
type call struct {
	cmd  redis.Cmder
	done chan struct{} // closed once cmd has its answer
}

// do sends cmd and returns once it has its answer, or returns ctx's
// error.
func (s *RedisNonceStore) do(ctx context.Context, cmd redis.Cmder) error {
	c := &call{cmd: cmd, done: make(chan struct{})}
	s.mu.Lock()
	s.pending = append(s.pending, c)
	start := !s.sending
	s.sending = true
	s.mu.Unlock()
	if start {
		go s.send()
	}
	select {
	case <-c.done:
		return nil
	case <-ctx.Done():
		// The command may still run; a nonce it spends is refused, never
		// accepted twice.
		return ctx.Err()
	}
}

// send sends pipelines until no call is pending. It first lets the
// goroutines ready to run have their turn: those that call meanwhile go
// in the first pipeline rather than each in a round trip of its own.
func (s *RedisNonceStore) send() {
	runtime.Gosched()
	returned := 0
	for {
		s.mu.Lock()
		n := min(len(s.pending), (returned+len(s.pending)+1)/2)
		calls := s.pending[:n:n]
		s.pending = append([]*call(nil), s.pending[n:]...)
		s.sending = n > 0
		s.mu.Unlock()
		if n == 0 {
			return
		}
		// The callers wait with their own contexts; the client's timeouts
		// bound the pipeline.
		ctx := context.Background()
		p := s.client.Pipeline()
		for _, c := range calls {
			p.Process(ctx, c.cmd)
		}
		p.Exec(ctx) // each command holds its own answer or error
		for _, c := range calls {
			close(c.done)
		}
		returned = n
	}
}

// NewRedisNonceStore returns a store whose nonces live for ttl
// (DefaultNonceTTL if ttl <= 0) under keys keyPrefix+nonce, e.g.
// "eidlink:nonce:". The caller owns client and closes it; give it
// timeouts shorter than the login request's.
func NewRedisNonceStore(client redis.UniversalClient, ttl time.Duration, keyPrefix string) *RedisNonceStore {
	if ttl <= 0 {
		ttl = DefaultNonceTTL
	}
	return &RedisNonceStore{client: client, ttl: ttl, prefix: keyPrefix}
}

// Issue returns a new nonce: 32 random bytes, 44 base64 characters.
func (s *RedisNonceStore) Issue(ctx context.Context) (string, error) {
	nonce := newNonce()
	cmd := redis.NewBoolCmd(ctx, "set", s.prefix+nonce, issued, "px", max(s.ttl.Milliseconds(), 1), "nx")
	err := s.do(ctx, cmd)
	var ok bool
	if err == nil {
		ok, err = cmd.Result()
	}
	if err != nil {
		return "", fmt.Errorf("%w: issuing a nonce: %v", ErrNonceStoreDown, err)
	}
	if !ok {
		return "", errors.New("a fresh random nonce is already in the nonce store: is the random source broken?")
	}
	return nonce, nil
}

// Values of a nonce's key.
const (
	issued = "1"
	used   = "0"
)

// Consume spends nonce; see NonceStore. It sets the key to used if it
// exists, keeping its expiry, and learns what it was: issued (the nonce is
// spent now), used (a replay), or absent (never issued, or expired and
// gone from Redis: ErrNonceUnknown).
func (s *RedisNonceStore) Consume(ctx context.Context, nonce string) error {
	cmd := redis.NewStringCmd(ctx, "set", s.prefix+nonce, used, "xx", "keepttl", "get")
	err := s.do(ctx, cmd)
	var was string
	if err == nil {
		was, err = cmd.Result()
	}
	switch {
	case errors.Is(err, redis.Nil):
		return ErrNonceUnknown
	case err != nil:
		return fmt.Errorf("%w: consuming a nonce: %v", ErrNonceStoreDown, err)
	case was == issued:
		return nil
	case was == used:
		return ErrNonceUsed
	}
	return ErrNonceUnknown
}
