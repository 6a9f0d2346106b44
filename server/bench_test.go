package server_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/starbase/starbase/api"
	"github.com/starbase/starbase/bench/apps"
	"github.com/starbase/starbase/code"
	"github.com/starbase/starbase/server"
	"github.com/starbase/starbase/store"
	"github.com/starbase/starbase/store/bolt"
)

// The Serve benchmarks measure one app request through Server.ServeHTTP, in process, with
// an httptest.ResponseRecorder: no network, no load generator, only what the server does.
// Each page is served three ways, for side-by-side comparison with benchstat:
//
//	_Store  a node over a real bolt file, serving the pushed app of main
//	_Files  server.NewStatic: the same app from files loaded once, with no store
//	_Go     the same work written as a plain net/http handler (apps.Go), the floor
//
// Store and Files take the same request path, so their difference is what serving from a
// store costs per request (nothing is read from the store per request, so it should be
// none). bench/ measures the same over loopback HTTP, against Flask too.

func BenchmarkServe_SmallJSON_Store(b *testing.B) { benchServe(b, storeServer(b), "/hello/Ada") }
func BenchmarkServe_SmallJSON_Files(b *testing.B) { benchServe(b, filesServer(b), "/hello/Ada") }
func BenchmarkServe_SmallJSON_Go(b *testing.B)    { benchServe(b, apps.Go(1), "/hello/Ada") }
func BenchmarkServe_Table_Store(b *testing.B)     { benchServe(b, storeServer(b), "/table") }
func BenchmarkServe_Table_Files(b *testing.B)     { benchServe(b, filesServer(b), "/table") }
func BenchmarkServe_Table_Go(b *testing.B)        { benchServe(b, apps.Go(1), "/table") }
func BenchmarkServe_Render_Files(b *testing.B)    { benchServe(b, filesServer(b), "/render") }
func BenchmarkServe_Render_Go(b *testing.B)       { benchServe(b, apps.Go(1), "/render") }

// benchServe serves GET path with h once per iteration and fails unless it answers 200.
func benchServe(b *testing.B, h http.Handler, path string) {
	b.Helper()
	check := httptest.NewRecorder()
	h.ServeHTTP(check, httptest.NewRequest(http.MethodGet, path, nil))
	if check.Code != http.StatusOK {
		b.Fatalf("GET %s: got status %d, want 200; body:\n%s", path, check.Code, check.Body)
	}
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != http.StatusOK {
			b.Fatalf("GET %s: got status %d, want 200", path, rec.Code)
		}
	}
}

// storeServer starts a node over a fresh bolt file with the benchmark app pushed to main.
func storeServer(b *testing.B) *server.Server {
	b.Helper()
	ctx := context.Background()
	st, err := bolt.Open(filepath.Join(b.TempDir(), "starbase.db"), bolt.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	srv, err := server.New(server.Config{Store: st, Node: "bench", Logger: discardLogger()})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := srv.Repo().Push(ctx, code.PushRequest{
		Ref: code.DefaultBranch, Files: apps.Starlark(1), Author: "bench", Message: "benchmark app",
	}); err != nil {
		b.Fatal(err)
	}
	if err := srv.Start(ctx); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { srv.Close() })
	return srv
}

// filesServer serves the benchmark app from files loaded once, with no store.
func filesServer(b *testing.B) *server.Server {
	b.Helper()
	srv, err := server.NewStatic(context.Background(), server.Config{Node: "bench", Logger: discardLogger()}, apps.Starlark(1))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { srv.Close() })
	return srv
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// The Rollout benchmarks serve the same page while a rollout runs at 50%: the node holds
// two commits (the app, and the app with one more module) and picks one per request by
// the client's affinity key. _Rollout is a returning client (its cookie sent), _RolloutNew a
// new one (a key drawn and a cookie set on each answer). Compare with
// BenchmarkServe_SmallJSON_Store, one commit:
//
//	go test -run '^$' -bench 'Serve_SmallJSON_(Store|Rollout)' -count 10 ./server
func BenchmarkServe_SmallJSON_Rollout(b *testing.B) {
	benchServeHeader(b, rolloutServer(b), "/hello/Ada", http.Header{"Cookie": {"starbase-rollout=0123456789abcdef0123456789abcdef"}})
}
func BenchmarkServe_SmallJSON_RolloutNew(b *testing.B) {
	benchServeHeader(b, rolloutServer(b), "/hello/Ada", nil)
}

// benchServeHeader is benchServe with header on every request.
func benchServeHeader(b *testing.B, h http.Handler, path string, header http.Header) {
	b.Helper()
	req := func() *http.Request {
		r := httptest.NewRequest(http.MethodGet, path, nil)
		maps.Copy(r.Header, header)
		return r
	}
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req())
		if rec.Code != http.StatusOK {
			b.Fatalf("GET %s: got status %d, want 200", path, rec.Code)
		}
	}
}

// rolloutServer is storeServer with a rollout at 50% of a second commit, once the node
// serves both.
func rolloutServer(b *testing.B) *server.Server {
	b.Helper()
	srv := storeServer(b)
	ctx := context.Background()
	files := apps.Starlark(1)
	files["lib/extra.star"] = []byte("EXTRA = 1\n")
	res, err := srv.Repo().Push(ctx, code.PushRequest{Ref: "next", Files: files, Author: "bench", Message: "candidate"})
	if err != nil {
		b.Fatal(err)
	}
	main, _, err := srv.Repo().Ref(ctx, code.DefaultBranch)
	if err != nil {
		b.Fatal(err)
	}
	// Stored as the publisher stores it (server/rollout.go).
	ro, _ := json.Marshal(api.Rollout{Ref: "main", Commit: string(res.Commit), Base: string(main), Steps: []int{50},
		Started: time.Now(), State: api.RolloutRunning})
	if _, err := srv.Repo().Store().Commit(ctx, nil, []store.Op{store.Put("code/rollouts/main", ro)}); err != nil {
		b.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		if n := srv.Status().Node; n.Rollout != nil && n.Rollout.Percent == 50 {
			return srv
		}
		if time.Now().After(deadline) {
			b.Fatal("the node does not serve the rollout")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
