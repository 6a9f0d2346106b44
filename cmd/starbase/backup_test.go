package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/starbase/starbase/api"
	"github.com/starbase/starbase/backup"
	"github.com/starbase/starbase/store"
	"github.com/starbase/starbase/store/bolt"
	"github.com/starbase/starbase/store/etcd/etcdtest"
)

// backupApp stores one Item per POST and reads it back by id.
const backupApp = `
Item = model("Item", fields = {"name": ""}, indexes = ["name"])

def put(req):
    return db.put(Item(name = req.params["name"]))

def get(req):
    o = db.get(req.params["id"])
    return "none" if o == None else o.name

routes = {
    "POST /items/{name}": put,
    "GET /items/{id}": get,
}
`

// writes are what a node acknowledged: objects by id (to their name), commits pushed,
// tokens created.
type writes struct {
	objects map[string]string
	commits []string
	tokens  []string
}

// acked records the writes a node acknowledged, from several goroutines.
type acked struct {
	mu sync.Mutex
	writes
}

func (a *acked) copy() writes {
	a.mu.Lock()
	defer a.mu.Unlock()
	c := writes{objects: make(map[string]string, len(a.objects)), commits: append([]string(nil), a.commits...), tokens: append([]string(nil), a.tokens...)}
	for k, v := range a.objects {
		c.objects[k] = v
	}
	return c
}

// loadNode writes to n without pause until ctx ends: objects (two writers), pushes and
// token creations, recording each acknowledged one.
func loadNode(ctx context.Context, t *testing.T, n *node, a *acked) *sync.WaitGroup {
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				name := fmt.Sprintf("w%d-%d", w, i)
				req, _ := http.NewRequestWithContext(ctx, "POST", n.url+"/items/"+name, nil)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					continue
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 200 {
					a.mu.Lock()
					a.objects[strings.Trim(strings.TrimSpace(string(b)), `"`)] = name
					a.mu.Unlock()
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		c := apiClient(t, n)
		for i := 0; ctx.Err() == nil; i++ {
			files := map[string][]byte{"app.star": []byte(backupApp), "v.txt": []byte(fmt.Sprint(i))}
			if res, err := c.Push(ctx, api.PushRequest{Files: files, Force: true, Message: fmt.Sprint("push ", i)}); err == nil {
				a.mu.Lock()
				a.commits = append(a.commits, res.Commit)
				a.mu.Unlock()
			}
			if tok, err := c.CreateToken(ctx, fmt.Sprint("tok", i), "reader"); err == nil {
				a.mu.Lock()
				a.tokens = append(a.tokens, tok.ID)
				a.mu.Unlock()
			}
		}
	}()
	return &wg
}

// checkRestored requires every acknowledged write of want to be served by n.
func checkRestored(t *testing.T, n *node, want writes) {
	t.Helper()
	for id, name := range want.objects {
		body, _ := n.get(t, "/items/"+id)
		if body != name {
			t.Errorf("object %s: restored node answers %q, want %q (acknowledged before the backup)", id, body, name)
		}
	}
	c := apiClient(t, n)
	for _, id := range want.commits {
		if _, err := c.Files(context.Background(), id); err != nil {
			t.Errorf("commit %s was acknowledged before the backup and is not restored: %v", id, err)
		}
	}
	toks, err := c.Tokens(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	haveTok := map[string]bool{}
	for _, tok := range toks {
		haveTok[tok.ID] = true
	}
	for _, id := range want.tokens {
		if !haveTok[id] {
			t.Errorf("token %s was acknowledged before the backup and is not restored", id)
		}
	}
	audit, err := c.Audit(context.Background(), 20, "")
	if err != nil {
		t.Fatal(err)
	}
	backups := 0
	for _, rec := range audit {
		if rec.Action == "backup" {
			backups++
		}
	}
	if backups == 0 {
		t.Errorf("the restored audit log does not record the backup")
	}
}

// TestE2E_BackupUnderLoadRestoresEveryAcknowledgedWrite takes backups with the binary while
// a node serves writes of objects, pushes and token creations, restores each into a new
// store, serves it, and finds there every write acknowledged before the backup started: on
// bolt with SQLite (the defaults) and on etcd (3.7 and 3.4) with the objects in etcd.
func TestE2E_BackupUnderLoadRestoresEveryAcknowledgedWrite(t *testing.T) {
	cases := []struct {
		name string
		// src are the serve flags of the node backed up; dst those of a restore target i.
		src []string
		dst func(i int) []string
	}{
		{"bolt and SQLite", nil, func(int) []string { return nil }},
	}
	for _, es := range etcdServers {
		ep := es.start(t, etcdtest.Options{})
		cases = append(cases, struct {
			name string
			src  []string
			dst  func(i int) []string
		}{es.name, []string{"--etcd", ep, "--etcd-prefix", "/src/"}, func(i int) []string {
			return []string{"--etcd", ep, "--etcd-prefix", fmt.Sprintf("/dst%d/", i)}
		}})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n := startServe(t, t.TempDir(), c.src...)
			src := t.TempDir()
			writeTree(t, src, map[string]string{"app.star": backupApp})
			n.cli(t, "push", src, "-m", "items", "--wait")
			a := &acked{writes: writes{objects: map[string]string{}}}
			ctx, cancel := context.WithCancel(context.Background())
			wg := loadNode(ctx, t, n, a)
			defer func() { cancel(); wg.Wait() }()

			for round := range 2 {
				deadline := time.Now().Add(60 * time.Second)
				for before := a.copy(); ; {
					now := a.copy()
					if len(now.objects) >= len(before.objects)+30 && len(now.commits) > len(before.commits) {
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("the load made no progress: %d objects, %d commits\n%s", len(now.objects), len(now.commits), n.logText())
					}
					time.Sleep(20 * time.Millisecond)
				}
				want := a.copy()
				file := filepath.Join(t.TempDir(), "node.backup")
				out := n.cli(t, "backup", file)
				if !strings.Contains(out, "written to "+file) {
					t.Errorf("backup says %q", out)
				}
				dir := t.TempDir()
				dst := c.dst(round)
				rout := n.cli(t, append([]string{"restore", file, "--data", dir}, dst...)...)
				if !strings.Contains(rout, "restored the backup") {
					t.Errorf("restore says %q", rout)
				}
				if _, errOut, err := n.try(append([]string{"restore", file, "--data", dir}, dst...)...); err == nil || !strings.Contains(errOut, "not empty") {
					t.Errorf("a second restore into the same store: %v, %q; want a refusal saying it is not empty", err, errOut)
				}
				r := startServe(t, dir, dst...)
				checkRestored(t, r, want)
				r.stop(t)
				t.Logf("round %d: %d objects, %d commits, %d tokens acknowledged before the backup, all restored", round,
					len(want.objects), len(want.commits), len(want.tokens))
			}
		})
	}
}

func TestE2E_RestoreRefusesADamagedBackupAndServeAnUnfinishedRestore(t *testing.T) {
	n := startServe(t, t.TempDir())
	file := filepath.Join(t.TempDir(), "node.backup")
	n.cli(t, "backup", file)
	if _, errOut, err := n.try("backup", file); err == nil || !strings.Contains(errOut, "exists") {
		t.Errorf("backup over an existing file: %v, %q; want a refusal", err, errOut)
	}
	good, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for name, bad := range map[string][]byte{
		"truncated": good[:len(good)-10],
		"changed":   append(append(append([]byte(nil), good[:len(good)/2]...), good[len(good)/2]^1), good[len(good)/2+1:]...),
		"empty":     nil,
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "bad.backup")
			os.WriteFile(path, bad, 0o600)
			dir := filepath.Join(t.TempDir(), "data")
			_, errOut, err := n.try("restore", path, "--data", dir)
			if err == nil || !strings.Contains(errOut, "not a whole Starbase backup") || !strings.Contains(errOut, path) {
				t.Errorf("restore of a %s backup: %v, %q; want a refusal naming the file and the damage", name, err, errOut)
			}
			if _, err := os.Stat(dir); err == nil {
				t.Errorf("the refused restore created %s", dir)
			}
		})
	}

	// A store that a restore left unfinished is refused by serve.
	dir := t.TempDir()
	st, err := bolt.Open(filepath.Join(dir, "starbase.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Commit(context.Background(), nil, []store.Op{store.Put(backup.RestoringKey, []byte("restoring"))}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	if out := serveFails(t, dir); !strings.Contains(out, "did not finish") {
		t.Errorf("serve of an unfinished restore says:\n%s", out)
	}
}
