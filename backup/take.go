package backup

import (
	"context"
	"fmt"
	"io"
	"runtime/debug"
	"strings"
	"time"

	"github.com/starbase/starbase/objects"
	"github.com/starbase/starbase/store"
)

// rangePage is how many keys Take reads per store read.
const rangePage = 1000

// Source is what Take backs up.
type Source struct {
	Store store.Store
	// Data is the data tier of the objects; nil or the kv tier when they are keys of Store.
	Data objects.Engine
	// Exclude lists key prefixes left out: state that belongs to running processes, not to the
	// data (the registry of live nodes).
	Exclude []string
	// Node names who takes the backup, for its header.
	Node string
}

// Summary tells what a backup holds.
type Summary struct {
	Header  Header
	Trailer Trailer
	// Bytes is the size of the backup file.
	Bytes int64
}

// Take writes a backup of src to w: every key of the store at its current revision, then
// every object of the data tier read in one snapshot (see the package documentation).
// Writers go on meanwhile. On an error, what was written to w is not a whole backup (it has
// no trailer) and a Reader refuses it.
func Take(ctx context.Context, w io.Writer, src Source) (Summary, error) {
	rev, err := src.Store.Revision(ctx)
	if err != nil {
		return Summary{}, fmt.Errorf("backup: reading the store's revision: %w", err)
	}
	// The revision read stays readable however long the backup takes (a slow reader of
	// the answer): no Retainer compacts past it until the backup ends. Between reading the
	// revision and holding it, only a Retainer whose window is shorter than that moment
	// could compact it; the read would then fail with store.ErrCompacted, never be partial.
	release, err := store.HoldHistory(ctx, src.Store, rev, "backup-"+src.Node)
	if err != nil {
		return Summary{}, fmt.Errorf("backup: %w", err)
	}
	defer release()
	h := Header{Created: time.Now().UTC(), Node: src.Node, Binary: binaryVersion(), Revision: rev, Data: "kv"}
	if src.Data != nil {
		h.Data = src.Data.Name()
	}
	bw, err := NewWriter(w, h)
	if err != nil {
		return Summary{}, err
	}
	after := ""
	for {
		res, err := src.Store.Range(ctx, "", store.RangeOptions{Revision: rev, After: after, Limit: rangePage})
		if err != nil {
			return Summary{}, fmt.Errorf("backup: reading the store at revision %d after %q: %w", rev, after, err)
		}
		for _, kv := range res.KVs {
			if excluded(kv.Key, src.Exclude) {
				continue
			}
			if err := bw.Key(kv.Key, kv.Value); err != nil {
				return Summary{}, err
			}
		}
		if !res.More || len(res.KVs) == 0 {
			break
		}
		after = res.KVs[len(res.KVs)-1].Key
	}
	if h.Data != "kv" {
		if _, err := objects.Snapshot(ctx, src.Data, bw.Object, bw.Sequence); err != nil {
			return Summary{}, fmt.Errorf("backup: %w", err)
		}
	}
	t, err := bw.Close()
	if err != nil {
		return Summary{}, err
	}
	h.Format = FormatVersion
	return Summary{Header: h, Trailer: t, Bytes: bw.Written()}, nil
}

func excluded(key string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(key, p) {
			return true
		}
	}
	return key == RestoringKey || strings.HasPrefix(key, store.HoldPrefix)
}

// binaryVersion is the module version and VCS revision of the running binary, as Go recorded
// them.
func binaryVersion() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	v := info.Main.Version
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" {
			v += " " + s.Value
		}
	}
	return v
}
