package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"go.starlark.net/starlark"

	"github.com/starbase/starbase/auth"
	"github.com/starbase/starbase/code"
	"github.com/starbase/starbase/objects"
	"github.com/starbase/starbase/runtime"
	"github.com/starbase/starbase/runtime/printlog"
	"github.com/starbase/starbase/sandbox"
	"github.com/starbase/starbase/store"
)

// Config configures a Server. Store is required; other zero values take the defaults below.
type Config struct {
	Store store.Store
	// Ref is the ref this node serves; default code.DefaultBranch ("main").
	Ref string
	// Dev shows tracebacks to clients.
	Dev bool
	// Limits bound every request and module load: steps, time, memory, call depth,
	// response size and print output (see limits.go); zero fields take the defaults of
	// runtime.DefaultLimits().
	Limits runtime.Limits
	// CacheDir holds this node's local caches (compiled bytecode); "" keeps them in memory.
	CacheDir string
	// MaxBodyBytes bounds request bodies of app requests; default 10 MiB.
	MaxBodyBytes int64
	// MaxPushBytes bounds API request bodies (pushes); default 256 MiB.
	MaxPushBytes int64
	// Node names this node in status; default the host name. Nodes sharing a store need
	// distinct names.
	Node string
	// TxAttempts bounds how many times a request whose data transaction conflicts is run;
	// default 10.
	TxAttempts int
	// MinRevisionWait bounds how long a request with Starbase-Min-Revision is held until
	// the node has applied that revision; default 5s.
	MinRevisionWait time.Duration
	// SessionTTL is how long a web session lasts; default auth.DefaultSessionTTL (12h).
	SessionTTL time.Duration
	// AuthBurst and AuthRefill limit refused API requests (failed authentications, roles
	// too low, CSRF failures) per source address: up to AuthBurst, then one more every
	// AuthRefill; meanwhile the source's API requests are answered 429 with Retry-After.
	// Defaults DefaultAuthBurst and DefaultAuthRefill.
	AuthBurst  int
	AuthRefill time.Duration
	Logger     *slog.Logger
}

func (c *Config) setDefaults() {
	if c.Ref == "" {
		c.Ref = code.DefaultBranch
	}
	c.Limits = c.Limits.WithDefaults()
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = 10 << 20
	}
	if c.MaxPushBytes == 0 {
		c.MaxPushBytes = 256 << 20
	}
	if c.Node == "" {
		c.Node, _ = os.Hostname()
	}
	if c.TxAttempts == 0 {
		c.TxAttempts = 10
	}
	if c.MinRevisionWait == 0 {
		c.MinRevisionWait = 5 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewJSONHandler(os.Stderr, nil))
	}
}

// Server serves one store's app and platform API. It is safe for concurrent use.
type Server struct {
	cfg     Config
	log     *slog.Logger
	repo    *code.Repo
	loader  *runtime.Loader
	prints  *printlog.Handler // bounds the print() output of each request in the log
	tokens  *auth.Tokens
	api     http.Handler
	start   time.Time
	metrics *metrics
	nodes   *registry
	// published is signalled when this node's state changed and should be republished.
	published chan struct{}

	// current is the release being served; nil until the first one is built.
	current atomic.Pointer[release]
	// applied is the highest store revision whose ref state this node has applied.
	applied atomic.Int64

	// mu guards notify.
	mu sync.Mutex
	// notify is closed and replaced whenever applied advances.
	notify chan struct{}

	cancel context.CancelFunc
	done   chan struct{}
}

// New builds a server over cfg.Store. Start launches it.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil {
		return nil, errors.New("server: a store is required")
	}
	cfg.setDefaults()
	prints := printlog.New(cfg.Logger.Handler(), printlog.Options{
		MaxLines: cfg.Limits.MaxPrintLines, MaxBytes: int(cfg.Limits.MaxPrintBytes),
	})
	loader, err := runtime.New(runtime.Options{
		Limits:      cfg.Limits,
		CacheDir:    cfg.CacheDir,
		Logger:      slog.New(prints),
		Predeclared: sandbox.Predeclared(),
	})
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:       cfg,
		log:       cfg.Logger,
		repo:      code.NewRepo(cfg.Store),
		loader:    loader,
		prints:    prints,
		tokens:    auth.NewTokens(cfg.Store),
		start:     time.Now(),
		notify:    make(chan struct{}),
		done:      make(chan struct{}),
		nodes:     newRegistry(cfg.Store, cfg.Node),
		published: make(chan struct{}, 1),
	}
	s.api = s.apiHandler()
	s.metrics = newMetrics(s)
	return s, nil
}

// Loader returns the server's module loader (for statistics).
func (s *Server) Loader() *runtime.Loader { return s.loader }

// Repo returns the code repository the server serves from.
func (s *Server) Repo() *code.Repo { return s.repo }

// Tokens returns the server's token records.
func (s *Server) Tokens() *auth.Tokens { return s.tokens }

// Start loads the release of the current ref and watches the ref for changes until Close.
func (s *Server) Start(ctx context.Context) error {
	rev, err := s.refresh(ctx)
	if err != nil {
		return err
	}
	ctx, s.cancel = context.WithCancel(context.Background())
	go s.watch(ctx, rev)
	go s.publish(ctx)
	return nil
}

// publish keeps this node's record in the registry current until ctx ends: after every
// change of what it serves, and periodically, so that a record lost while the store was
// unreachable comes back.
func (s *Server) publish(ctx context.Context) {
	defer s.nodes.close()
	tick := time.NewTicker(nodeTTL / 2)
	defer tick.Stop()
	for {
		if err := s.nodes.publish(ctx, s.self()); err != nil && ctx.Err() == nil {
			s.log.Warn("publishing node state failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-s.published:
		case <-tick.C:
		}
	}
}

// changed tells the publisher that this node's state changed.
func (s *Server) changed() {
	select {
	case s.published <- struct{}{}:
	default:
	}
}

// Close stops watching and releases the loader. It does not close the store.
func (s *Server) Close() error {
	if s.cancel != nil {
		s.cancel()
		<-s.done
	}
	return s.loader.Close()
}

// refresh reads the ref at the latest revision and serves it. It returns that revision.
func (s *Server) refresh(ctx context.Context) (int64, error) {
	kv, rev, err := s.cfg.Store.Get(ctx, s.refKey(), 0)
	if err != nil {
		return 0, fmt.Errorf("reading ref %s: %w", s.cfg.Ref, err)
	}
	if kv != nil {
		s.switchTo(ctx, code.ID(kv.Value), rev)
	}
	s.advance(rev)
	return rev, nil
}

// watch follows the ref from rev. When the watch ends (compaction, a lost connection), it
// re-reads the ref and watches again from there, so no change is missed for long.
func (s *Server) watch(ctx context.Context, rev int64) {
	defer close(s.done)
	key := s.refKey()
	backoff := 50 * time.Millisecond
	for ctx.Err() == nil {
		for ev := range s.cfg.Store.Watch(ctx, key, rev) {
			if ev.Err != nil {
				s.log.Warn("ref watch ended", "ref", s.cfg.Ref, "revision", rev, "err", ev.Err)
				break
			}
			backoff = 50 * time.Millisecond
			for _, ch := range ev.Changes {
				if ch.Key == key && !ch.Deleted {
					s.switchTo(ctx, code.ID(ch.Value), ev.Revision)
				}
			}
			rev = ev.Revision
			s.advance(rev)
		}
		for ctx.Err() == nil {
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 2*time.Second)
			next, err := s.refresh(ctx)
			if err == nil {
				rev = next
				break
			}
			s.log.Warn("re-reading ref failed; serving the last release", "ref", s.cfg.Ref, "err", err)
		}
	}
}

// switchTo builds the release of commit and makes it current, unless a newer one is served.
func (s *Server) switchTo(ctx context.Context, commit code.ID, rev int64) {
	if cur := s.current.Load(); cur != nil && (cur.revision >= rev || cur.commit == commit) {
		if cur.commit == commit && cur.revision < rev {
			next := *cur
			next.revision = rev
			s.current.Store(&next)
		}
		return
	}
	start := time.Now()
	rel := s.buildRelease(ctx, commit, rev)
	s.current.Store(rel)
	s.metrics.switched(string(commit), rel.committed)
	s.changed()
	s.log.Info("serving commit", "commit", commit, "revision", rev,
		"build_ms", time.Since(start).Milliseconds(), "load_error", errString(rel.loadErr))
}

func (s *Server) refKey() string { return code.RefPrefix + s.cfg.Ref }

// buildRelease loads commit's tree and app. A release whose app fails to load is still a
// release: it answers every request with that error, so what is served is always what the
// ref names.
func (s *Server) buildRelease(ctx context.Context, commit code.ID, rev int64) *release {
	rel := &release{commit: commit, revision: rev}
	c, err := s.repo.Commit(ctx, commit)
	if err != nil {
		rel.loadErr = err
		return rel
	}
	rel.committed = c.Time
	tree, err := s.repo.Tree(ctx, c.Tree)
	if err != nil {
		rel.loadErr = err
		return rel
	}
	rel.snap = &runtime.Snapshot{Commit: commit, Tree: tree, Blobs: s.repo}
	rel.app, rel.loadErr = s.loadApp(ctx, rel.snap)
	return rel
}

func (s *Server) loadApp(ctx context.Context, snap *runtime.Snapshot) (*app, error) {
	if _, ok := snap.Tree[EntryPoint]; !ok {
		return nil, errNoApp
	}
	globals, err := s.loader.Load(ctx, snap, EntryPoint)
	if err != nil {
		return nil, err
	}
	return buildApp(globals)
}

// advance records that the node has applied every ref change up to rev.
func (s *Server) advance(rev int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rev > s.applied.Load() {
		s.applied.Store(rev)
		close(s.notify)
		s.notify = make(chan struct{})
		s.changed()
	}
}

// waitApplied holds until the node has applied store revision rev, or ctx ends. A revision
// that changed no ref counts as applied as soon as the node is current with the ref.
func (s *Server) waitApplied(ctx context.Context, rev int64) error {
	if rev <= s.applied.Load() {
		return nil
	}
	if kv, cur, err := s.cfg.Store.Get(ctx, s.refKey(), 0); err == nil && cur >= rev &&
		(kv == nil || kv.ModRevision <= s.applied.Load()) {
		return nil
	}
	for {
		s.mu.Lock()
		ch := s.notify
		s.mu.Unlock()
		if rev <= s.applied.Load() {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
	}
}

// ServeHTTP routes /-/ to the platform and everything else to the app. Every response
// carries the security headers (see securityWriter), and the app never sees the session
// cookie of the platform.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w = withSecurityHeaders(w, r)
	switch {
	case r.URL.Path == "/-/health":
		s.serveHealth(w, r)
	case r.URL.Path == "/-/status":
		s.serveStatus(w, r)
	case r.URL.Path == "/-/metrics":
		s.metrics.handler().ServeHTTP(w, r)
	case len(r.URL.Path) >= 7 && r.URL.Path[:7] == "/-/api/":
		s.api.ServeHTTP(w, r)
	case r.URL.Path == "/-" || len(r.URL.Path) >= 3 && r.URL.Path[:3] == "/-/":
		http.NotFound(w, r)
	default:
		r = withoutSessionCookie(r)
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		route := s.serveApp(sw, r)
		s.metrics.observe(route, sw.status, time.Since(start))
	}
}

// statusWriter remembers the status of a response, for metrics.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// serveApp runs one app request against the release current at its start. It returns the
// route pattern that served it, for metrics.
func (s *Server) serveApp(w http.ResponseWriter, r *http.Request) (route string) {
	route = "-"
	if h := r.Header.Get("Starbase-Min-Revision"); h != "" {
		if !s.holdForRevision(w, r, h) {
			return route
		}
	}
	rel := s.current.Load()
	if rel == nil {
		http.Error(w, "No app is deployed yet. Push one with: starbase push DIR", http.StatusServiceUnavailable)
		return route
	}
	w.Header().Set("Starbase-Commit", string(rel.commit))
	reqID := newRequestID()
	s.prints.Begin(reqID)
	defer s.prints.End(context.WithoutCancel(r.Context()), reqID)
	if rel.loadErr != nil {
		s.fail(w, r, rel, reqID, rel.loadErr)
		return route
	}
	rt, rec, ok := rel.app.match(r)
	if !ok {
		if rel.app.handle == nil || (rec.status != http.StatusNotFound && rec.status != http.StatusMethodNotAllowed) {
			for k, v := range rec.header {
				w.Header()[k] = v
			}
			http.Error(w, http.StatusText(rec.status), rec.status)
			return route
		}
		rt = appRoute{pattern: "", fn: rel.app.handle}
	}
	route = rt.pattern
	if route == "" {
		route = "handle"
	}
	body, err := readBody(r, s.cfg.MaxBodyBytes)
	if err != nil {
		http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
		return route
	}
	req := newRequestValue(r, rt, reqID, body)
	req.Freeze() // a handler re-run after a conflict must see the same request
	var result starlark.Value
	err = objects.Run(r.Context(), s.cfg.Store, s.classResolver(rel), s.cfg.TxAttempts, func(tx *objects.Tx) (err error) {
		result, err = s.loader.Call(r.Context(), rel.snap, rt.fn, starlark.Tuple{req}, nil,
			map[string]any{"request_id": reqID, objects.LocalKey(): tx})
		return err
	})
	if errors.Is(err, objects.ErrConflict) {
		http.Error(w, "The data this request read kept changing under it: "+err.Error(), http.StatusConflict)
		return route
	}
	if err != nil {
		s.fail(w, r, rel, reqID, err)
		return route
	}
	rep, err := toReply(result, s.cfg.Limits.MaxResponseBytes)
	if err != nil {
		s.fail(w, r, rel, reqID, err)
		return route
	}
	for _, h := range rep.headers {
		w.Header().Add(h[0], h[1])
	}
	if rep.contentType != "" {
		w.Header().Set("Content-Type", rep.contentType)
	}
	w.WriteHeader(rep.status)
	w.Write(rep.body)
	return route
}

// classResolver binds stored objects to their classes as defined in rel's commit.
func (s *Server) classResolver(rel *release) objects.ClassResolver {
	return func(ctx context.Context, module, name string) (*objects.Model, error) {
		if _, ok := rel.snap.Tree[module]; !ok {
			return nil, fmt.Errorf("%w: module %s is not in commit %s", objects.ErrNoClass, module, rel.commit.Short())
		}
		globals, err := s.loader.Load(ctx, rel.snap, module)
		if err != nil {
			return nil, err
		}
		return objects.ClassIn(globals, module, name)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func newRequestID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
