package etcd

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/starbase/starbase/store"
)

var _ store.Leaser = (*Store)(nil)

// PutEphemeral writes key=value under an etcd lease of ttl that a background keep-alive
// renews until the Ephemeral is closed. If this process dies or loses the cluster for ttl,
// etcd deletes the key.
func (s *Store) PutEphemeral(ctx context.Context, key string, value []byte, ttl time.Duration) (store.Ephemeral, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	e := &ephemeral{s: s, key: s.prefix + key, ttl: ttl}
	if err := e.Update(ctx, value); err != nil {
		return nil, err
	}
	return e, nil
}

// ephemeral is one leased key. It is safe for concurrent use.
type ephemeral struct {
	s   *Store
	key string
	ttl time.Duration

	// mu guards the fields below.
	mu sync.Mutex
	// lease is the current lease, 0 when none is held (not yet granted, or lost).
	lease clientv3.LeaseID
	// stop ends the keep-alive of lease.
	stop context.CancelFunc
}

// Update writes value under the current lease, taking a new lease first if the last one
// was lost.
func (e *ephemeral) Update(ctx context.Context, value []byte) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	for attempt := 0; ; attempt++ {
		if e.lease == 0 {
			if err := e.grant(ctx); err != nil {
				return err
			}
		}
		cctx, cancel := e.s.callContext(ctx)
		_, err := e.s.cli.Put(cctx, e.key, string(value), clientv3.WithLease(e.lease))
		cancel()
		if errors.Is(err, rpctypes.ErrLeaseNotFound) && attempt == 0 {
			e.drop()
			continue
		}
		if err != nil {
			return fmt.Errorf("etcd: writing ephemeral key: %w", e.s.mapErr(ctx, err))
		}
		return nil
	}
}

// grant takes a new lease and starts renewing it. e.mu must be held.
func (e *ephemeral) grant(ctx context.Context) error {
	cctx, cancel := e.s.callContext(ctx)
	defer cancel()
	resp, err := e.s.cli.Grant(cctx, max(1, int64(e.ttl.Round(time.Second)/time.Second)))
	if err != nil {
		return fmt.Errorf("etcd: granting a lease: %w", e.s.mapErr(ctx, err))
	}
	kaCtx, stop := context.WithCancel(e.s.ctx)
	alive, err := e.s.cli.KeepAlive(kaCtx, resp.ID)
	if err != nil {
		stop()
		return fmt.Errorf("etcd: keeping a lease alive: %w", e.s.mapErr(ctx, err))
	}
	e.lease, e.stop = resp.ID, stop
	go func(id clientv3.LeaseID) {
		for range alive {
		}
		// The keep-alive ended: the lease expired, or it was stopped. Forget it so that the
		// next Update takes a new one.
		e.mu.Lock()
		if e.lease == id {
			e.drop()
		}
		e.mu.Unlock()
	}(resp.ID)
	return nil
}

// drop forgets the current lease and stops renewing it. e.mu must be held.
func (e *ephemeral) drop() {
	if e.stop != nil {
		e.stop()
	}
	e.lease, e.stop = 0, nil
}

// Close revokes the lease, which deletes the key at once.
func (e *ephemeral) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	id := e.lease
	e.drop()
	if id == 0 || e.s.ctx.Err() != nil {
		return nil
	}
	ctx, cancel := e.s.callContext(context.Background())
	defer cancel()
	if _, err := e.s.cli.Revoke(ctx, id); err != nil && !errors.Is(err, rpctypes.ErrLeaseNotFound) {
		return fmt.Errorf("etcd: revoking lease: %w", e.s.mapErr(context.Background(), err))
	}
	return nil
}
