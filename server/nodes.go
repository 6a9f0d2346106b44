package server

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/starbase/starbase/api"
	"github.com/starbase/starbase/store"
)

// NodePrefix is the store prefix under which live nodes publish what they serve.
const NodePrefix = "nodes/"

// nodeTTL is how long a node's record outlives the node on a shared store.
const nodeTTL = 5 * time.Second

// registry publishes this node's state so that every node (and `starbase status`, and
// `push --wait`) can list the live nodes and what they serve. On a store shared by several
// processes, the record is an ephemeral key (an etcd lease), so a dead node disappears by
// itself. On a single-process store, this node is the only one and the registry is local.
type registry struct {
	st     store.Store
	leaser store.Leaser // nil on a single-process store
	key    string

	// mu guards eph.
	mu  sync.Mutex
	eph store.Ephemeral
}

func newRegistry(st store.Store, node string) *registry {
	r := &registry{st: st, key: NodePrefix + node}
	r.leaser, _ = st.(store.Leaser)
	return r
}

// publish records n as this node's state. Failures are returned for logging; the node keeps
// serving either way and the next publish retries.
func (r *registry) publish(ctx context.Context, n api.Node) error {
	if r.leaser == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	b, err := json.Marshal(n)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if r.eph == nil {
		eph, err := r.leaser.PutEphemeral(ctx, r.key, b, nodeTTL)
		if err != nil {
			return fmt.Errorf("registering node: %w", err)
		}
		r.eph = eph
		return nil
	}
	return r.eph.Update(ctx, b)
}

// list returns every live node, ordered by name, with self (this node's state now) in
// place of its own published record, which may lag behind it.
func (r *registry) list(ctx context.Context, self api.Node) ([]api.Node, error) {
	if r.leaser == nil {
		return []api.Node{self}, nil
	}
	res, err := r.st.Range(ctx, NodePrefix, store.RangeOptions{})
	if err != nil {
		return nil, err
	}
	nodes := []api.Node{self}
	for _, kv := range res.KVs {
		var n api.Node
		if err := json.Unmarshal(kv.Value, &n); err != nil {
			return nil, fmt.Errorf("node record %s is corrupt: %w", kv.Key, err)
		}
		if n.Node != self.Node {
			nodes = append(nodes, n)
		}
	}
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].Node < nodes[j].Node })
	return nodes, nil
}

func (r *registry) close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.eph == nil {
		return nil
	}
	err := r.eph.Close()
	r.eph = nil
	return err
}
