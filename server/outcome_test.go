package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/starbase/starbase/api"
	"github.com/starbase/starbase/client"
	"github.com/starbase/starbase/server"
	"github.com/starbase/starbase/server/servertest"
	"github.com/starbase/starbase/store"
	"github.com/starbase/starbase/store/bolt"
)

// lostAnswers is a real store whose commits, while armed, are applied and then answered
// with the error of a lost answer (what etcd's client returns when a member stops after
// applying a commit): the faults a network injects, on a real bolt file.
type lostAnswers struct {
	store.Store
	armed atomic.Bool
}

func (s *lostAnswers) Commit(ctx context.Context, compares []store.Compare, ops []store.Op) (int64, error) {
	rev, err := s.Store.Commit(ctx, compares, ops)
	if err == nil && len(ops) > 0 && s.armed.Load() {
		return 0, fmt.Errorf("commit: %w: %w: the answer was lost", store.ErrOutcomeUnknown, store.ErrUnavailable)
	}
	return rev, err
}

func TestServer_AnAnswerWhoseOutcomeIsUnknownSaysSo(t *testing.T) {
	base, err := bolt.Open(filepath.Join(t.TempDir(), "starbase.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer base.Close()
	st := &lostAnswers{Store: base}
	n := servertest.Start(t, server.Config{Store: st})
	n.Deploy(t, map[string]string{"app.star": `
Item = model("Item", fields = {"name": ""})

def put(req):
    return db.put(Item(name = req.params["name"]))

routes = {"POST /items/{name}": put}
`})
	st.armed.Store(true)

	t.Run("push", func(t *testing.T) {
		_, err := n.Client.Push(context.Background(), api.PushRequest{
			Files: servertest.Files(map[string]string{"app.star": "def handle(req):\n    return 'v2'\n"}), Force: true})
		var ce *client.Error
		if !errors.As(err, &ce) || ce.Status != http.StatusServiceUnavailable || ce.Body.Code != "starbase.outcome_unknown" ||
			!strings.Contains(ce.Body.Error, "may or may not") {
			t.Fatalf("push with its answer lost: %v (%+v); want 503 starbase.outcome_unknown saying it may or may not be committed", err, ce)
		}
	})
	t.Run("app write", func(t *testing.T) {
		req, _ := http.NewRequest("POST", n.URL+"/items/x", nil)
		resp, body := n.Do(t, req)
		var got struct{ Error, Code string }
		json.Unmarshal([]byte(body), &got)
		if resp.StatusCode != http.StatusServiceUnavailable || got.Code != "starbase.outcome_unknown" || !strings.Contains(got.Error, "may or may not") {
			t.Errorf("app write with its answer lost = %d %s; want 503 starbase.outcome_unknown", resp.StatusCode, body)
		}
	})
}
