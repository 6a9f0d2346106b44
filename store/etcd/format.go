package etcd

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/starbase/starbase/store"
)

// FormatVersion is the version of the key layout that this package writes under its prefix,
// and the newest it reads. The prefix key itself (Config.Prefix, the store key "" that no
// commit can write, hidden from reads and watches) holds the marker "starbase-etcd
// <version>"; Open writes it when the prefix has none and refuses a newer version. A prefix
// that holds keys but no marker (written before the marker existed) is adopted. A store
// without a prefix owns the whole keyspace and has no marker.
const FormatVersion = 1

const formatMagic = "starbase-etcd"

// checkFormat reads the format marker, writing it when there is none.
func (s *Store) checkFormat(ctx context.Context) error {
	if s.prefix == "" {
		return nil
	}
	cctx, cancel := s.callContext(ctx)
	defer cancel()
	marker := fmt.Sprintf("%s %d", formatMagic, FormatVersion)
	resp, err := s.cli.Txn(cctx).
		If(clientv3.Compare(clientv3.CreateRevision(s.prefix), "=", 0)).
		Then(clientv3.OpPut(s.prefix, marker)).
		Else(clientv3.OpGet(s.prefix)).
		Commit()
	if err != nil {
		return fmt.Errorf("etcd: read the format marker at %q: %w", s.prefix, s.mapErr(ctx, err))
	}
	if resp.Succeeded {
		return nil
	}
	kvs := resp.Responses[0].GetResponseRange().Kvs
	if len(kvs) == 0 {
		return nil // deleted since: the next open writes it again
	}
	magic, v, ok := strings.Cut(string(kvs[0].Value), " ")
	version, verr := strconv.Atoi(v)
	if !ok || magic != formatMagic || verr != nil || version < 1 {
		return fmt.Errorf("%w: the etcd key %q holds %q, not a Starbase format marker: the prefix belongs to another program; choose another --etcd-prefix",
			store.ErrFormat, s.prefix, kvs[0].Value)
	}
	if version > FormatVersion {
		return fmt.Errorf("%w: the keys under %q are a Starbase store of format %d, and this starbase reads formats up to %d: run a newer starbase (starbase --version shows the formats a binary reads)",
			store.ErrFormat, s.prefix, version, FormatVersion)
	}
	return nil
}
