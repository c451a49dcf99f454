package relyingparty

import (
	"context"
	"errors"
	"fmt"
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
// Issue stores the key prefix+nonce with SET NX EX ttl. Consume marks an
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
// Calls that come while another is waiting for Redis are sent together,
// as one pipeline, when that one returns: a busy verifier pays one round
// trip for many logins, an idle one waits for no batch to fill. Each
// command keeps its own answer, so batching changes no outcome.
type RedisNonceStore struct {
	client redis.UniversalClient
	ttl    time.Duration
	prefix string

	mu      sync.Mutex
	busy    bool   // a pipeline is out
	pending *batch // the commands that came meanwhile
}

// batch is commands sent as one pipeline.
type batch struct {
	cmds []func(redis.Pipeliner) redis.Cmder
	done chan struct{}
	out  []redis.Cmder // set before done is closed
}

// do sends the command add queues and returns it answered: at once when
// no pipeline is out, else with the next one; or ctx's error.
func (s *RedisNonceStore) do(ctx context.Context, add func(redis.Pipeliner) redis.Cmder) (redis.Cmder, error) {
	s.mu.Lock()
	if !s.busy {
		s.busy = true
		s.mu.Unlock()
		b := &batch{cmds: []func(redis.Pipeliner) redis.Cmder{add}}
		s.send(ctx, b)
		s.next()
		return b.out[0], nil
	}
	b := s.pending
	if b == nil {
		b = &batch{done: make(chan struct{})}
		s.pending = b
	}
	i := len(b.cmds)
	b.cmds = append(b.cmds, add)
	s.mu.Unlock()
	select {
	case <-b.done:
		return b.out[i], nil
	case <-ctx.Done():
		// The command may still run; a nonce it spends is refused, never
		// accepted twice.
		return nil, ctx.Err()
	}
}

// pipelined is do for a command of type C.
func pipelined[C redis.Cmder](ctx context.Context, s *RedisNonceStore, add func(redis.Pipeliner) C) (C, error) {
	cmd, err := s.do(ctx, func(p redis.Pipeliner) redis.Cmder { return add(p) })
	if err != nil {
		var none C
		return none, err
	}
	return cmd.(C), nil // the command add made
}

// next sends the commands that came while a pipeline was out, in a
// goroutine of their own, or marks the store idle.
func (s *RedisNonceStore) next() {
	s.mu.Lock()
	b := s.pending
	s.pending = nil
	s.busy = b != nil
	s.mu.Unlock()
	if b != nil {
		go func() {
			// Their callers wait with their own contexts; the client's
			// timeouts bound the pipeline.
			s.send(context.Background(), b)
			close(b.done)
			s.next()
		}()
	}
}

// send runs b's commands as one pipeline and keeps their answers.
func (s *RedisNonceStore) send(ctx context.Context, b *batch) {
	p := s.client.Pipeline()
	b.out = make([]redis.Cmder, len(b.cmds))
	for i, add := range b.cmds {
		b.out[i] = add(p)
	}
	p.Exec(ctx) // each command holds its own error
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
	cmd, err := pipelined(ctx, s, func(p redis.Pipeliner) *redis.BoolCmd {
		return p.SetNX(ctx, s.prefix+nonce, issued, s.ttl)
	})
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
	cmd, err := pipelined(ctx, s, func(p redis.Pipeliner) *redis.StatusCmd {
		return p.SetArgs(ctx, s.prefix+nonce, used, redis.SetArgs{Mode: "XX", KeepTTL: true, Get: true})
	})
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
