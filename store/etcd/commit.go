package etcd

import (
	"context"
	"errors"
	"fmt"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/starbase/starbase/store"
)

// Bounds of the protobuf encoding around the keys and values of a transaction, used to
// check a commit against the servers' request size limit before sending it. They are upper
// bounds (tags, length prefixes, revisions as varints), so a commit that passes the check
// encodes smaller.
const (
	opOverhead    = 32  // a put or delete: op and request tags and lengths
	cmpOverhead   = 48  // a compare or its Else read: tags, lengths, target, revision, options
	rangeOverhead = 24  // a range end and, in the Else read, its limit and revision filter
	txnOverhead   = 512 // the transaction and the raft request header around it
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
		cmps[i], reads[i] = s.compare(c)
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
		err = s.mapErr(ctx, err)
		if errors.Is(err, store.ErrUnavailable) {
			// Sent, but unanswered: etcd may have applied it.
			return 0, fmt.Errorf("etcd: commit of %d compares and %d ops: %w: %w", len(compares), len(ops), store.ErrOutcomeUnknown, err)
		}
		return 0, fmt.Errorf("etcd: commit of %d compares and %d ops: %w", len(compares), len(ops), err)
	}
	if !resp.Succeeded {
		return 0, &store.ConflictError{Key: firstFailing(compares, resp, s.prefix)}
	}
	return resp.Header.Revision, nil
}

// compare returns the etcd compare of c and the read of the transaction's failure branch that
// shows whether it held.
//
// A single-key compare on absence is CreateRevision == 0, any other is ModRevision == rev, and
// its read is the key. A range compare at rev is ModRevision < rev+1 over the range (etcd
// checks a range compare on every key present in it, and an empty range passes), and its read
// is the first key of the range modified after rev, if any (keys only).
func (s *Store) compare(c store.Compare) (clientv3.Cmp, clientv3.Op) {
	key := s.prefix + c.Key
	if !c.IsRange() {
		read := clientv3.OpGet(key, clientv3.WithKeysOnly())
		if c.ModRevision == 0 {
			return clientv3.Compare(clientv3.CreateRevision(key), "=", 0), read
		}
		return clientv3.Compare(clientv3.ModRevision(key), "=", c.ModRevision), read
	}
	if key == s.prefix {
		// The range starts after the store key "", which no commit writes: etcd refuses the
		// empty key, and under a prefix it holds the format marker.
		key = s.prefix + "\x00"
	}
	end := s.prefix + c.End
	if c.End == store.EndOfKeys {
		end = clientv3.GetPrefixRangeEnd(s.prefix) // "\x00" (every key) when there is no prefix
	}
	cmp := clientv3.Compare(clientv3.ModRevision(key), "<", c.ModRevision+1).WithRange(end)
	read := clientv3.OpGet(key, clientv3.WithRange(end), clientv3.WithKeysOnly(),
		clientv3.WithMinModRev(c.ModRevision+1), clientv3.WithLimit(1))
	return cmp, read
}

// checkCommit refuses, before anything is sent, a commit that etcd would refuse: beyond the
// limits (ErrTooLarge), writing a key twice, with an empty key or a compare store.Compare.Check
// refuses.
//
// etcd bounds each list of a transaction by --max-txn-ops: the compares, the operations of the
// success branch (the ops), and those of the failure branch (one read per compare). So
// compares and ops are each bounded by MaxTxnOps, not their sum (etcdserver/api/v3rpc
// checkTxnRequest), which is what Limits reports.
func (s *Store) checkCommit(compares []store.Compare, ops []store.Op) error {
	if err := s.limits.Check(store.SizeOf(compares, ops)); err != nil {
		return fmt.Errorf("etcd: commit: %w; at most %d compares and %d ops fit in one etcd transaction (--max-txn-ops); split the commit",
			err, s.limits.MaxCompares, s.limits.MaxOps)
	}
	encoded := txnOverhead
	for _, c := range compares {
		if err := c.Check(); err != nil {
			return fmt.Errorf("etcd: commit: %w", err)
		}
		if !c.IsRange() && s.prefix+c.Key == "" {
			return fmt.Errorf("etcd: commit: a compare has the empty key, which etcd cannot store; give a key or a Config.Prefix")
		}
		// The compare and its failure-branch read each carry the key (and the range end).
		encoded += 2 * (len(s.prefix) + len(c.Key) + cmpOverhead)
		if c.IsRange() {
			encoded += 2 * (len(s.prefix) + len(c.End) + rangeOverhead)
		}
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
		encoded += len(s.prefix) + len(op.Key) + len(op.Value) + opOverhead
	}
	if encoded > s.maxRequestBytes {
		return fmt.Errorf("etcd: commit of %d bytes once encoded with the prefix %q: %w: etcd accepts requests of at most %d bytes; split the commit",
			encoded, s.prefix, store.ErrTooLarge, s.maxRequestBytes)
	}
	return nil
}

// firstFailing names the first compare that the failure-branch reads of a failed transaction
// show not holding: a single key whose modification revision differs, or a range in which a
// key was modified after the compare's revision (the key is named). The reads ran at the
// revision the compares were checked at, so one of them fails; "" is returned only if the
// response has an unexpected shape.
func firstFailing(compares []store.Compare, resp *clientv3.TxnResponse, prefix string) string {
	for i, c := range compares {
		if i >= len(resp.Responses) {
			break
		}
		r := resp.Responses[i].GetResponseRange()
		if r == nil {
			continue
		}
		if c.IsRange() {
			if len(r.Kvs) > 0 {
				return strings.TrimPrefix(string(r.Kvs[0].Key), prefix)
			}
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
