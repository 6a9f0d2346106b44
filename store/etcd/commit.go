package etcd

import (
	"context"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/starbase/starbase/store"
)

// Bounds of the protobuf encoding around the keys and values of a transaction, used to
// check a commit against the servers' request size limit before sending it. They are upper
// bounds (tags, length prefixes, revisions as varints), so a commit that passes the check
// encodes smaller.
const (
	opOverhead  = 32  // a put or delete: op and request tags and lengths
	cmpOverhead = 48  // a compare and its Else read: tags, lengths, target and revision
	txnOverhead = 512 // the transaction and the raft request header around it
)

// Commit applies ops if every compare holds, in one etcd transaction, and returns the new
// revision. A commit that fails with an error wrapping store.ErrUnavailable may or may not
// have been applied (see the package documentation).
func (s *Store) Commit(ctx context.Context, compares []store.Compare, ops []store.Op) (int64, error) {
	if err := s.checkOpen(); err != nil {
		return 0, err
	}
	if err := s.checkCommit(compares, ops); err != nil {
		return 0, err
	}
	if len(compares) == 0 && len(ops) == 0 {
		return s.Revision(ctx)
	}

	cmps := make([]clientv3.Cmp, len(compares))
	reads := make([]clientv3.Op, len(compares))
	for i, c := range compares {
		key := s.prefix + c.Key
		if c.ModRevision == 0 {
			cmps[i] = clientv3.Compare(clientv3.CreateRevision(key), "=", 0)
		} else {
			cmps[i] = clientv3.Compare(clientv3.ModRevision(key), "=", c.ModRevision)
		}
		reads[i] = clientv3.OpGet(key, clientv3.WithKeysOnly())
	}
	writes := make([]clientv3.Op, len(ops))
	for i, op := range ops {
		if op.Delete {
			writes[i] = clientv3.OpDelete(s.prefix + op.Key)
		} else {
			writes[i] = clientv3.OpPut(s.prefix+op.Key, string(op.Value))
		}
	}

	cctx, cancel := s.callContext(ctx)
	defer cancel()
	resp, err := s.cli.Txn(cctx).If(cmps...).Then(writes...).Else(reads...).Commit()
	if err != nil {
		return 0, fmt.Errorf("etcd: commit of %d compares and %d ops: %w", len(compares), len(ops), s.mapErr(ctx, err))
	}
	if !resp.Succeeded {
		return 0, &store.ConflictError{Key: firstFailing(compares, resp)}
	}
	return resp.Header.Revision, nil
}

// checkCommit refuses, before anything is sent, a commit that etcd would refuse: beyond the
// limits (ErrTooLarge), writing a key twice, or with an empty key.
func (s *Store) checkCommit(compares []store.Compare, ops []store.Op) error {
	if n := len(compares) + len(ops); n > s.limits.MaxOps {
		return fmt.Errorf("etcd: commit of %d compares and %d ops: %w: at most %d compares plus ops fit in one etcd transaction; split the commit",
			len(compares), len(ops), store.ErrTooLarge, s.limits.MaxOps)
	}
	size, encoded := 0, txnOverhead
	for _, c := range compares {
		if s.prefix+c.Key == "" {
			return fmt.Errorf("etcd: commit: a compare has the empty key, which etcd cannot store; give a key or a Config.Prefix")
		}
		size += len(c.Key)
		encoded += 2 * (len(s.prefix) + len(c.Key) + cmpOverhead)
	}
	written := make(map[string]bool, len(ops))
	for _, op := range ops {
		if s.prefix+op.Key == "" {
			return fmt.Errorf("etcd: commit: an op has the empty key, which etcd cannot store; give a key or a Config.Prefix")
		}
		if written[op.Key] {
			return fmt.Errorf("etcd: commit: key %q is written twice; a commit may put or delete each key once", op.Key)
		}
		written[op.Key] = true
		size += len(op.Key) + len(op.Value)
		encoded += len(s.prefix) + len(op.Key) + len(op.Value) + opOverhead
	}
	if size > s.limits.MaxBytes {
		return fmt.Errorf("etcd: commit of %d bytes of keys and values: %w: the limit is %d bytes; split the commit",
			size, store.ErrTooLarge, s.limits.MaxBytes)
	}
	if encoded > s.maxRequestBytes {
		return fmt.Errorf("etcd: commit of %d bytes once encoded with the prefix %q: %w: etcd accepts requests of at most %d bytes; split the commit",
			encoded, s.prefix, store.ErrTooLarge, s.maxRequestBytes)
	}
	return nil
}

// firstFailing names the first compare that the Else reads of a failed transaction show
// not holding. The reads ran at the revision the compares were checked at, so one of them
// fails; "" is returned only if the response has an unexpected shape.
func firstFailing(compares []store.Compare, resp *clientv3.TxnResponse) string {
	for i, c := range compares {
		if i >= len(resp.Responses) {
			break
		}
		r := resp.Responses[i].GetResponseRange()
		if r == nil {
			continue
		}
		var modRev int64
		if len(r.Kvs) > 0 {
			modRev = r.Kvs[0].ModRevision
		}
		if modRev != c.ModRevision {
			return c.Key
		}
	}
	return ""
}
