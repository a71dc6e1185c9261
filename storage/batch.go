package storage

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

// Batch coalesces the small writes of concurrent goroutines into shared
// commits, as bbolt's own DB.Batch does (which needs a handle that stays
// open, and resyn's does not): calls that arrive within batchDelay of each
// other, up to batchMax, run one after another in one Update. A call whose
// fn fails is taken out and run on its own, so its error is its own and the
// others still commit together. fn may therefore run more than once and
// must be idempotent (its effects are only kept by the commit that
// returns nil to it).
func (db *DB) Batch(fn func(*Tx) error) error {
	if db.readOnly {
		return fmt.Errorf("%s: %w", db.path, ErrReadOnly)
	}
	errc := make(chan error, 1)
	db.mu.Lock()
	if db.closed {
		db.mu.Unlock()
		return fmt.Errorf("%s: %w", db.path, ErrClosed)
	}
	b := db.batch
	if b == nil {
		b = &batch{db: db, done: make(chan struct{})}
		b.timer = time.AfterFunc(batchDelay, b.trigger)
		db.batch = b
	}
	b.calls = append(b.calls, batchCall{fn: fn, err: errc})
	if len(b.calls) >= batchMax {
		db.batch = nil // the next call starts a new batch
		go b.trigger()
	}
	db.mu.Unlock()
	err := <-errc
	if errors.Is(err, errTrySolo) {
		err = db.Update(fn)
	}
	return err
}

const (
	batchDelay = 5 * time.Millisecond
	batchMax   = 256
)

var errTrySolo = errors.New("batch call failed; retried on its own")

type batch struct {
	db    *DB
	timer *time.Timer
	once  sync.Once
	calls []batchCall
	done  chan struct{} // closed when every call has its answer
}

type batchCall struct {
	fn  func(*Tx) error
	err chan<- error
}

func (b *batch) trigger() { b.once.Do(b.run) }

func (b *batch) wait() { <-b.done }

func (b *batch) run() {
	defer close(b.done)
	b.db.mu.Lock()
	b.timer.Stop()
	if b.db.batch == b {
		b.db.batch = nil
	}
	calls := b.calls // no call joins once b is no longer db.batch
	b.db.mu.Unlock()
	for len(calls) > 0 {
		failed := -1
		err := b.db.Update(func(tx *Tx) error {
			for i, c := range calls {
				if err := c.fn(tx); err != nil {
					failed = i
					return err
				}
			}
			return nil
		})
		if failed >= 0 {
			calls[failed].err <- errTrySolo
			calls = append(calls[:failed:failed], calls[failed+1:]...)
			continue
		}
		for _, c := range calls {
			c.err <- err
		}
		return
	}
}
