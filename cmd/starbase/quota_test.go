package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/starbase/starbase/api"
	"github.com/starbase/starbase/client"
	"github.com/starbase/starbase/store/etcd/etcdtest"
)

// TestE2E_FullStoreAnswers507AndHealthSaysDegraded fills a small etcd quota with pushes
// through the binary: the push that meets the NOSPACE alarm, and every write after it,
// answer 507 saying what to do; app reads are still served; /-/health says degraded,
// /-/ready stays ready, the metric starbase_store_full is 1 and the log says why.
// It runs on both etcd servers (etcdServers).
func TestE2E_FullStoreAnswers507AndHealthSaysDegraded(t *testing.T) {
	for _, es := range etcdServers {
		t.Run(es.name, func(t *testing.T) {
			fullStoreAnswers507(t, es.start(t, etcdtest.Options{QuotaBackendBytes: 8 << 20}))
		})
	}
}

func fullStoreAnswers507(t *testing.T, endpoints string) {
	n := startServe(t, t.TempDir(), "--etcd", endpoints)
	c := apiClient(t, n)
	ctx := context.Background()
	files := map[string][]byte{"app.star": []byte(backupApp)}
	if _, err := c.Push(ctx, api.PushRequest{Files: files, Force: true}); err != nil {
		t.Fatal(err)
	}
	id := postItem(t, n, "before")

	var full *client.Error
	for i := 0; full == nil; i++ {
		if i == 200 {
			t.Fatalf("200 pushes of 300 KB never filled an 8 MiB quota")
		}
		big := make([]byte, 300<<10)
		rand.Read(big)
		files["static/big.bin"] = big
		_, err := c.Push(ctx, api.PushRequest{Files: files, Force: true, Message: fmt.Sprint("push ", i)})
		if err != nil && !errors.As(err, &full) {
			t.Fatalf("push %d: %v", i, err)
		}
		if full != nil && full.Status != http.StatusInsufficientStorage {
			t.Fatalf("push %d answered %d %v; want 507 when the store is full", i, full.Status, err)
		}
	}
	if !strings.Contains(full.Error(), "quota") || !strings.Contains(full.Error(), "alarm disarm") {
		t.Errorf("the refused push says %q; want it to say what to do (the quota, disarming the alarm)", full.Error())
	}

	// A write of the app: 507, JSON with a stable code; a read: served.
	resp, err := http.Post(n.url+"/items/after", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	var body struct{ Error, Code string }
	json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusInsufficientStorage || body.Code != "starbase.store_full" {
		t.Errorf("an app write with the store full = %d %+v; want 507 starbase.store_full", resp.StatusCode, body)
	}
	if got, _ := n.get(t, "/items/"+id); got != "before" {
		t.Errorf("an app read with the store full = %q, want the object written before", got)
	}
	if health, _ := n.get(t, "/-/health"); !strings.HasPrefix(health, "degraded: the store is full") {
		t.Errorf("/-/health = %q; want degraded, saying the store is full", health)
	}
	if ready, _ := n.get(t, "/-/ready"); !strings.HasPrefix(ready, "ready") {
		t.Errorf("/-/ready = %q; want ready (reads are served)", ready)
	}
	if metrics, _ := n.get(t, "/-/metrics"); !strings.Contains(metrics, "starbase_store_full 1") ||
		!strings.Contains(metrics, `starbase_store_operations_total{op="commit",result="full"}`) {
		t.Errorf("/-/metrics does not say the store is full")
	}
	waitLog(t, n, "the store is full")
}

// postItem writes an Item of backupApp named name and returns its id.
func postItem(t *testing.T, n *node, name string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Post(n.url+"/items/"+name, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 200 {
			return strings.Trim(strings.TrimSpace(string(b)), `"`)
		}
		if time.Now().After(deadline) {
			t.Fatalf("POST /items/%s = %d %s", name, resp.StatusCode, b)
		}
		time.Sleep(20 * time.Millisecond) // the node may not serve the app's commit yet
	}
}
