package relyingparty

import (
	"context"
	"errors"
	"fmt"
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
type RedisNonceStore struct {
	client redis.UniversalClient
	ttl    time.Duration
	prefix string
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
	ok, err := s.client.SetNX(ctx, s.prefix+nonce, issued, s.ttl).Result()
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
	was, err := s.client.SetArgs(ctx, s.prefix+nonce, used, redis.SetArgs{Mode: "XX", KeepTTL: true, Get: true}).Result()
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
