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
// that holds keys but no marker is adopted when some of them are Starbase's (under auth/ or
// code/, which every node writes: a store written before the marker existed) and refused
// otherwise, as another program's. A store without a prefix owns the whole keyspace and has
// no marker.
const FormatVersion = 1

const formatMagic = "starbase-etcd"

// checkFormat reads the format marker, writing it when the prefix holds no key.
func (s *Store) checkFormat(ctx context.Context) error {
	if s.prefix == "" {
		return nil
	}
	cctx, cancel := s.callContext(ctx)
	defer cancel()
	marker := fmt.Sprintf("%s %d", formatMagic, FormatVersion)
	one := []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithKeysOnly(), clientv3.WithLimit(1)}
	resp, err := s.cli.Txn(cctx).
		// No key under the prefix at all (a range compare of no key compares a zero one).
		If(clientv3.Compare(clientv3.CreateRevision(s.prefix), "=", 0).WithPrefix()).
		Then(clientv3.OpPut(s.prefix, marker)).
		Else(clientv3.OpGet(s.prefix), clientv3.OpGet(s.prefix, one...),
			clientv3.OpGet(s.prefix+"auth/", one...), clientv3.OpGet(s.prefix+"code/", one...)).
		Commit()
	if err != nil {
		return fmt.Errorf("etcd: read the format marker at %q: %w", s.prefix, s.mapErr(ctx, err))
	}
	if resp.Succeeded {
		return nil
	}
	if kvs := resp.Responses[0].GetResponseRange().Kvs; len(kvs) > 0 {
		return checkMarker(s.prefix, kvs[0].Value)
	}
	if resp.Responses[2].GetResponseRange().Count == 0 && resp.Responses[3].GetResponseRange().Count == 0 {
		keys := resp.Responses[1].GetResponseRange()
		first := ""
		if len(keys.Kvs) > 0 {
			first = string(keys.Kvs[0].Key)
		}
		return fmt.Errorf("%w: the %d etcd keys under %q (the first %s) have no Starbase format marker and none is Starbase's (auth/, code/): the prefix belongs to another program; choose another --etcd-prefix",
			store.ErrFormat, keys.Count, s.prefix, clip(first))
	}
	// A Starbase store written before the marker existed: adopt it.
	_, err = s.cli.Txn(cctx).
		If(clientv3.Compare(clientv3.CreateRevision(s.prefix), "=", 0)).
		Then(clientv3.OpPut(s.prefix, marker)).
		Commit()
	if err != nil {
		return fmt.Errorf("etcd: write the format marker at %q: %w", s.prefix, s.mapErr(ctx, err))
	}
	return nil
}

// checkMarker refuses a marker of another program or of a newer format.
func checkMarker(prefix string, value []byte) error {
	magic, v, ok := strings.Cut(string(value), " ")
	version, verr := strconv.Atoi(v)
	if !ok || magic != formatMagic || verr != nil || version < 1 {
		return fmt.Errorf("%w: the etcd key %q holds %s, not a Starbase format marker: the prefix belongs to another program; choose another --etcd-prefix",
			store.ErrFormat, prefix, clip(string(value)))
	}
	if version > FormatVersion {
		return fmt.Errorf("%w: the keys under %q are a Starbase store of format %d, and this starbase reads formats up to %d: run a newer starbase (starbase --version shows the formats a binary reads)",
			store.ErrFormat, prefix, version, FormatVersion)
	}
	return nil
}

// clip quotes s, another program's key or value, cut to 64 bytes for an error message.
func clip(s string) string {
	if len(s) > 64 {
		return strconv.Quote(s[:64]) + "..."
	}
	return strconv.Quote(s)
}
