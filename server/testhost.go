package server

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/starbase/starbase/appsession"
	"github.com/starbase/starbase/code"
	"github.com/starbase/starbase/gate"
	"github.com/starbase/starbase/objects"
	"github.com/starbase/starbase/runtime"
)

// TestHost serves the app of a tree under check to its tests' client() (gate.AppHost): a
// Server of its own for each check, built from the tree as NewStatic builds one, so that a
// test's requests take exactly the path of a node's (ServeHTTP: routing, request values,
// limits, the CSRF rule, sessions, replies, errors as in --dev), over the data tier the
// gate gives each test. Its clock is gate.TestClock and its session keys are random, one
// key per check. It holds no state: the zero value works.
type TestHost struct {
	// Limits bound the app's requests, as the node's; zero fields take the defaults.
	Limits runtime.Limits
	// Logger receives the app's log; nil discards it.
	Logger *slog.Logger
}

var _ gate.AppHost = (*TestHost)(nil)

// Open builds the app of snap.
func (h *TestHost) Open(ctx context.Context, snap *runtime.Snapshot) (gate.TestApp, error) {
	keys, err := appsession.NewFixedKeys()
	if err != nil {
		return nil, err
	}
	logger := h.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s, err := New(Config{
		Store: noStore{}, Dev: true, Limits: h.Limits, Logger: logger, Node: "test",
		AppKeys: keys, Clock: func() time.Time { return gate.TestClock },
	})
	if err != nil {
		return nil, err
	}
	_, treeID, err := code.EncodeTree(snap.Tree)
	if err != nil {
		s.Close()
		return nil, err
	}
	own := *snap
	own.Commit = treeID
	rel := &release{commit: treeID, snap: &own}
	if rel.app, err = s.builder.Build(ctx, rel.snap); err != nil {
		s.Close()
		return nil, fmt.Errorf("building the app: %w", err)
	}
	s.releases.hold(rel)
	return &testApp{s: s, keys: keys}, nil
}

// testApp is the app of one check.
type testApp struct {
	s    *Server
	keys appsession.Keyring
}

// dataKey is the context key of the data tier a test app's request uses.
type dataKey struct{}

// dataOf returns the data tier of r: the test's, for a test app's request, else dflt.
// Only this package sets the key, so no request from outside can choose its data.
func dataOf(r *http.Request, dflt objects.Engine) objects.Engine {
	if d, ok := r.Context().Value(dataKey{}).(objects.Engine); ok {
		return d
	}
	return dflt
}

func (a *testApp) Handler(data objects.Engine) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.s.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), dataKey{}, data)))
	})
}

func (a *testApp) CSRFToken(ctx context.Context, cookie string) (string, string, error) {
	return appsession.TokenFor(ctx, a.keys, cookie, gate.TestClock)
}

func (a *testApp) Close() error { return a.s.Close() }
