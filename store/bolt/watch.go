package bolt

import (
	"context"
	"fmt"

	bbolt "go.etcd.io/bbolt"

	"github.com/starbase/starbase/store"
)

// A watcher reads at most this much per read transaction before delivering it, so that a
// watch far behind neither holds a read transaction (which would stall the file's growth)
// nor memory for long.
const (
	watchBatchEvents = 256
	watchBatchBytes  = 4 << 20
)

// Watch delivers the revisions after fromRev that change keys under prefix; see
// store.Store. A watch of a closed store delivers one Event with store.ErrClosed; Close ends
// open watches by closing their channels without an Err event.
func (s *Store) Watch(ctx context.Context, prefix string, fromRev int64) <-chan store.Event {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ch := make(chan store.Event, 1)
		ch <- store.Event{Err: fmt.Errorf("store/bolt: watch %q: %w", prefix, store.ErrClosed)}
		close(ch)
		return ch
	}
	s.watchers.Add(1)
	if fromRev == 0 {
		fromRev = s.revision
	}
	s.mu.Unlock()

	ch := make(chan store.Event)
	go s.watch(ctx, ch, prefix, fromRev)
	return ch
}

// watch is the goroutine of one watch: it delivers the revisions after after, reading them
// from the file in batches, and sleeps when it has caught up until the next commit.
func (s *Store) watch(ctx context.Context, ch chan<- store.Event, prefix string, after int64) {
	defer s.watchers.Done()
	defer close(ch)
	send := func(ev store.Event) bool {
		select {
		case ch <- ev:
			return true
		case <-ctx.Done():
		case <-s.done:
		}
		return false
	}
	if after < 0 {
		send(store.Event{Err: fmt.Errorf("store/bolt: watch %q: invalid revision %d", prefix, after)})
		return
	}
	for {
		// Take the channel before reading: a commit the read misses closes it afterwards.
		_, committed := s.announced()
		var batch []store.Event
		var more bool
		err := s.view(func(tx *bbolt.Tx) error {
			var err error
			batch, after, more, err = readEvents(tx, prefix, after)
			return err
		})
		if err != nil {
			send(store.Event{Err: fmt.Errorf("store/bolt: watch %q: %w", prefix, err)})
			return
		}
		for _, ev := range batch {
			if !send(ev) {
				return
			}
		}
		if more {
			continue
		}
		select {
		case <-committed:
		case <-ctx.Done():
			return
		case <-s.done:
			return
		}
	}
}

// readEvents reads the events under prefix of the revisions after after, up to one batch.
// It returns the last revision it covered and whether later revisions may remain.
func readEvents(tx *bbolt.Tx, prefix string, after int64) (events []store.Event, covered int64, more bool, err error) {
	current, compacted := readMeta(tx)
	if after < compacted {
		return nil, after, false, fmt.Errorf("%w: revision %d is before the compaction point %d", store.ErrCompacted, after, compacted)
	}
	if after >= current {
		return nil, after, false, nil
	}
	versions := tx.Bucket(versionsBucket)
	size := 0
	c := tx.Bucket(revisionsBucket).Cursor()
	for k, v := c.Seek(encodeRevision(after + 1)); k != nil; k, v = c.Next() {
		rev := decodeRevision(k)
		var changes []store.Change
		var changeErr error
		err := eachKey(v, func(key []byte) bool {
			if !hasPrefix(key, prefix) {
				return true
			}
			var change store.Change
			change, changeErr = changeAt(versions, key, rev)
			size += len(key) + len(change.Value)
			changes = append(changes, change)
			return changeErr == nil
		})
		if err == nil {
			err = changeErr
		}
		if err != nil {
			return nil, after, false, fmt.Errorf("revision %d: %w", rev, err)
		}
		after = rev
		if len(changes) > 0 {
			events = append(events, store.Event{Revision: rev, Changes: changes})
		}
		if len(events) >= watchBatchEvents || size >= watchBatchBytes {
			return events, after, after < current, nil
		}
	}
	return events, current, false, nil
}

// changeAt returns the change revision rev made to key.
func changeAt(versions *bbolt.Bucket, key []byte, rev int64) (store.Change, error) {
	var record []byte
	if kv := versions.Bucket(key); kv != nil {
		record = kv.Get(encodeRevision(rev))
	}
	if record == nil {
		return store.Change{}, fmt.Errorf("key %q: missing version", key)
	}
	kind, createRev, value, err := decodeVersion(record)
	if err != nil {
		return store.Change{}, fmt.Errorf("key %q: %w", key, err)
	}
	change := store.Change{KeyValue: store.KeyValue{Key: string(key), ModRevision: rev}}
	if kind == kindTombstone {
		change.Deleted = true
		return change, nil
	}
	change.Value = append([]byte{}, value...)
	change.CreateRevision = createRev
	return change, nil
}
