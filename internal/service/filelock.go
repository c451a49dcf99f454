package service

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"
)

// fileLock is the card, locked against the other processes that use the
// same lock file. The file's content says whether the holder waits for a
// PIN ("1"), so that others do not wait behind a prompt that may stay open
// for minutes. A nil *fileLock is no lock.
type fileLock struct {
	f *os.File
}

// lockPoll bounds the pause between two tries at a lock that another
// process holds. Operating systems do not let a lock wait be cancelled,
// and a lock wait must not hold up a cancelled request: lockCard tries
// without waiting, and again after a short random pause.
const lockPoll = 10 * time.Millisecond

// lockCard locks path, creating it (and its directory) if needed. It
// fails with errPrompt when the holder waits for a PIN, and with ctx's
// error when ctx ends first.
func lockCard(ctx context.Context, path string) (*fileLock, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	for {
		ok, err := tryLock(f)
		if err != nil {
			f.Close()
			return nil, err
		}
		if ok {
			f.Truncate(0) // a holder that crashed left its prompt mark
			return &fileLock{f}, nil
		}
		var mark [1]byte
		if n, _ := f.ReadAt(mark[:], 0); n == 1 && mark[0] == '1' {
			f.Close()
			return nil, errPrompt
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(time.Duration(1 + rand.Int64N(int64(lockPoll)))):
		}
	}
}

// setPrompt marks whether the holder waits for a PIN.
func (l *fileLock) setPrompt(open bool) {
	if l == nil {
		return
	}
	if open {
		l.f.WriteAt([]byte("1"), 0)
	} else {
		l.f.Truncate(0)
	}
}

func (l *fileLock) unlock() {
	if l == nil {
		return
	}
	l.f.Truncate(0)
	unlockFile(l.f)
	l.f.Close()
}
