package server

import (
	"context"
	"errors"
	"fmt"

	"github.com/starbase/starbase/code"
	"github.com/starbase/starbase/internal/memtree"
	"github.com/starbase/starbase/store"
)

// errNoStore is returned, wrapping store.ErrUnavailable, by every store operation of a
// server made by NewStatic, which has no store: its API endpoints answer 503 with it,
// /-/status lists only the node itself, and handlers that use the data API fail with it.
var errNoStore = fmt.Errorf("%w: this server serves fixed files and has no store", store.ErrUnavailable)

// NewStatic returns a Server that serves the app made of files, loaded once here, and never
// changes: the no-store baseline that the benchmarks (bench/) compare a store-backed node
// with. App requests take exactly the path they take on a node over a store (routing,
// request values, limits, replies, Starbase-Commit, metrics); only the release is built from
// files instead of from a ref. As there is no commit, Starbase-Commit carries the id of the
// tree of files. With no store there is no data: handlers that read or write data fail.
//
// cfg.Store must be nil. It fails if a path is invalid or app.star does not load. Do not
// call Start; Close releases the loader.
func NewStatic(ctx context.Context, cfg Config, files map[string][]byte) (*Server, error) {
	if cfg.Store != nil {
		return nil, errors.New("server: NewStatic serves files, not a store: leave Config.Store nil")
	}
	for path := range files {
		if err := code.ValidatePath(path); err != nil {
			return nil, fmt.Errorf("server: %w", err)
		}
	}
	cfg.Store = noStore{}
	s, err := New(cfg)
	if err != nil {
		return nil, err
	}
	snap := memtree.Snapshot(files)
	_, treeID, err := code.EncodeTree(snap.Tree)
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("server: %w", err)
	}
	snap.Commit = treeID
	rel := &release{commit: treeID, snap: snap}
	if rel.app, err = s.builder.Build(ctx, snap); err != nil {
		s.Close()
		return nil, fmt.Errorf("server: loading the app: %w", err)
	}
	s.releases.hold(rel)
	return s, nil
}

// noStore is the store of a static server: it holds nothing and refuses everything with
// errNoStore.
type noStore struct{}

var _ store.Store = noStore{}

func (noStore) Get(context.Context, string, int64) (*store.KeyValue, int64, error) {
	return nil, 0, errNoStore
}

func (noStore) Range(context.Context, string, store.RangeOptions) (store.RangeResult, error) {
	return store.RangeResult{}, errNoStore
}

func (noStore) Commit(context.Context, []store.Compare, []store.Op) (int64, error) {
	return 0, errNoStore
}

func (noStore) Watch(context.Context, string, int64) <-chan store.Event {
	ch := make(chan store.Event, 1)
	ch <- store.Event{Err: errNoStore}
	close(ch)
	return ch
}

func (noStore) Revision(context.Context) (int64, error) { return 0, errNoStore }
func (noStore) Compact(context.Context, int64) error    { return errNoStore }
func (noStore) Limits() store.Limits                    { return store.Limits{} }
func (noStore) Close() error                            { return nil }
