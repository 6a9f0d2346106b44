package server_test

import (
	"context"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/starbase/starbase/server"
	"github.com/starbase/starbase/server/servertest"
	"github.com/starbase/starbase/store"
	"github.com/starbase/starbase/store/bolt"
)

// conflictOnce is a real store that, when armed, lets another writer win once: before
// the first commit that writes a key under prefix, it commits the same writes itself, so
// that the commit's compares fail and the transaction runs again.
type conflictOnce struct {
	store.Store
	prefix atomic.Pointer[string]
}

func (s *conflictOnce) Commit(ctx context.Context, compares []store.Compare, ops []store.Op) (int64, error) {
	if prefix := s.prefix.Load(); prefix != nil {
		for _, op := range ops {
			if strings.HasPrefix(op.Key, *prefix) && s.prefix.CompareAndSwap(prefix, nil) {
				if _, err := s.Store.Commit(ctx, nil, ops); err != nil {
					return 0, err
				}
				break
			}
		}
	}
	return s.Store.Commit(ctx, compares, ops)
}

func TestServer_TheClockIsTheSameAcrossAConflictsReRuns(t *testing.T) {
	inner, err := bolt.Open(filepath.Join(t.TempDir(), "starbase.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { inner.Close() })
	st := &conflictOnce{Store: inner}
	n := servertest.Start(t, server.Config{Store: st})
	app := counterApp("1")
	app["app.star"] = strings.Replace(app["app.star"], `def incr(req):
    c = db.get(req.params["id"])
    c.incr(1)
    db.put(c)
    return {"value": c.value}`, `def incr(req):
    c = db.get(req.params["id"])
    print("clock", time.now().unix_nano)
    c.incr(1)
    db.put(c)
    return {"value": c.value, "now": str(time.now().unix_nano)}`, 1)
	res := n.Push(t, app)
	n.WaitCommit(t, res.Commit)
	_, created := postJSON(t, n.URL+"/counters/c")
	id := created["id"].(string)

	prefix := "data/obj/" + id
	st.prefix.Store(&prefix)
	status, v := postJSON(t, n.URL+"/counters/"+id+"/incr")
	if status != 200 || v["value"] != 2.0 {
		t.Fatalf("incr = %d %v, want value 2: the run that lost the conflict added 1, and the re-run another", status, v)
	}
	var clocks []string
	for _, rec := range n.Log.Records(t) {
		if msg, _ := rec["msg"].(string); strings.HasPrefix(msg, "clock ") {
			clocks = append(clocks, strings.TrimPrefix(msg, "clock "))
		}
	}
	if len(clocks) != 2 || clocks[0] != clocks[1] || clocks[1] != v["now"] {
		t.Errorf("the handler ran with clocks %q and answered %v; want two runs that both saw the instant it answered", clocks, v["now"])
	}
}
