package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.starlark.net/starlark"

	"github.com/starbase/starbase/api"
	"github.com/starbase/starbase/appsession"
	"github.com/starbase/starbase/auth"
	"github.com/starbase/starbase/build"
	"github.com/starbase/starbase/code"
	"github.com/starbase/starbase/objects"
	"github.com/starbase/starbase/runtime"
	"github.com/starbase/starbase/sandbox"
	"github.com/starbase/starbase/store"
	"github.com/starbase/starbase/ui"
	"github.com/starbase/starbase/web"
)

// Config configures a Server. Store is required; other zero values take the defaults below.
type Config struct {
	Store store.Store
	// Data is the data tier of app requests (their objects); default objects.KV(Store), the
	// objects under data/ in Store. starbase serve gives SQLite or PostgreSQL.
	Data objects.Engine
	// AppKeys are the keys of the app's user sessions and CSRF tokens (package appsession);
	// default appsession.NewKeys(Store), the keys kept in Store.
	AppKeys appsession.Keyring
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
	// MaxBodyBytes bounds request bodies of app requests; default DefaultMaxBodyBytes
	// (10 MiB). A larger body is answered 413 before any stored code runs.
	MaxBodyBytes int64
	// TrustedProxies are the reverse proxies whose X-Forwarded-For, -Proto and -Host
	// headers app requests believe (req.remote_addr, req.scheme, req.host); none by
	// default.
	TrustedProxies web.Proxies
	// MaxPushBytes bounds API request bodies (pushes); default 256 MiB.
	MaxPushBytes int64
	// CheckTimeout bounds the validation gate's work on one push, revert or ref move
	// (gate.Options.Timeout); default gate.DefaultTimeout.
	CheckTimeout time.Duration
	// CheckMemory bounds what the validation of one push allocates in module top levels
	// and tests together (gate.Options.MaxMemory); zero means gate.DefaultMaxMemory.
	CheckMemory runtime.ByteSize
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
	// BodyTimeout bounds the time a request's body may take to arrive, from when the
	// node starts handling the request (its header read): a slowly trickled body is cut
	// off with 408 instead of holding a connection. Default DefaultBodyTimeout (30 s).
	// Authorized API requests (a push of many files) get APIBodyTimeout instead, default
	// DefaultAPIBodyTimeout (5 min). Negative disables.
	BodyTimeout    time.Duration
	APIBodyTimeout time.Duration
	// RefusalInterval is the interval over which refused API requests are recorded
	// together: the first refusal of a source in an interval gets an audit record of its
	// own at once, the next ones one record per source at the interval's end (see
	// refusals). Default DefaultRefusalInterval (10 s); negative records every refusal
	// one by one.
	RefusalInterval time.Duration
	// AccessLog is the fraction of requests written to the access log (one "request" record
	// each: request id, method, route, status, duration, commit, source): 0, the default,
	// logs none, 1 every request, 0.01 one in a hundred at random.
	AccessLog float64
	// CodeRetention is how much code history CollectCode keeps (serve --keep-commits,
	// --keep-commits-for); the zero value keeps every commit and CollectCode does nothing.
	CodeRetention code.Retention
	// DroppedMaxAge is how long the record of a dropped commit (which makes asking for it
	// say it was dropped) is kept; 0 keeps it forever. serve gives --audit-max-age.
	DroppedMaxAge time.Duration
	// Version names this starbase in the metric starbase_build_info.
	Version string
	Logger  *slog.Logger
	// Clock gives the instant an app request starts (time.now() in its handler, the
	// session's expiry); default time.Now. The test host gives gate.TestClock.
	Clock func() time.Time
}

func (c *Config) setDefaults() {
	if c.Ref == "" {
		c.Ref = code.DefaultBranch
	}
	c.Limits = c.Limits.WithDefaults()
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
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
	if c.BodyTimeout == 0 {
		c.BodyTimeout = DefaultBodyTimeout
	}
	if c.APIBodyTimeout == 0 {
		c.APIBodyTimeout = DefaultAPIBodyTimeout
	}
	if c.MinRevisionWait == 0 {
		c.MinRevisionWait = 5 * time.Second
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewJSONHandler(os.Stderr, nil))
	}
}

// Server is a node: it serves one store's app and platform API. It puts together parts that
// each own their state: releases (what the node serves, following the ref; releases.go), a
// publisher (the rules by which refs move; publisher.go), the API (its guard and handlers,
// whose errors one adapter answers; api.go) and app requests (serveApp). It is safe for
// concurrent use.
type Server struct {
	cfg    Config
	log    *slog.Logger
	repo   *code.Repo
	loader *runtime.Loader
	// builder builds releases with loader and the renderer behind its render().
	builder *build.Builder
	ids     *requestIDs
	// requestTimeout is the cause of the deadline of app requests (Limits.Timeout).
	requestTimeout error
	// servedRel and servedNew are what app requests derived from the current release and
	// from another (a rollout's) that they ran on last.
	servedRel, servedNew atomic.Pointer[servedRelease]
	// windows count the two commits of a running rollout (nil when none runs); windowsMu
	// serializes their replacements. rolledBack is the stored rollout's revision this
	// node last rolled back. See rolloutwindow.go.
	windows    atomic.Pointer[rolloutWindows]
	windowsMu  sync.Mutex
	rolledBack atomic.Int64
	tokens     *auth.Tokens
	refusals   *refusals
	api        http.Handler
	// editor serves the editor's own origin (Editor).
	editor  http.Handler
	start   time.Time
	metrics *metrics
	// store is the node's view of cfg.Store (which it wraps): metrics and the full state.
	store *watchedStore
	// ops are the metrics of the API, the gate and data transactions.
	ops   *opsMetrics
	nodes *registry
	// errors remembers this node's recent app errors for the editor.
	errors *errorLog
	// published is signalled when this node's state changed and should be republished.
	published chan struct{}

	// releases follows the ref and holds what the node serves.
	releases *releases
	// publisher moves refs for the API: push, revert, ref move.
	publisher *publisher
	// preview serves /-/preview/COMMIT/... to developers (preview.go); previews holds
	// the releases it built.
	preview  http.Handler
	previews *previewCache
	// collector collects old code (collect.go).
	collector *code.Collector

	cancel context.CancelFunc
	// running counts the goroutines Start launched; Close waits for them.
	running sync.WaitGroup
}

// New builds a server over cfg.Store. Start launches it.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil {
		return nil, errors.New("server: a store is required")
	}
	cfg.setDefaults()
	var watched *watchedStore
	cfg.Store, watched = watchStore(cfg.Store, cfg.Logger)
	if cfg.Data == nil {
		cfg.Data = objects.KV(cfg.Store)
	}
	if cfg.AppKeys == nil {
		cfg.AppKeys = appsession.NewKeys(cfg.Store)
	}
	predeclared, renderer := sandbox.WithRenderer()
	loader, err := runtime.New(runtime.Options{
		Limits:      cfg.Limits,
		CacheDir:    cfg.CacheDir,
		Logger:      cfg.Logger,
		Predeclared: predeclared,
	})
	if err != nil {
		return nil, err
	}
	repo := code.NewRepo(cfg.Store)
	s := &Server{
		cfg:            cfg,
		log:            cfg.Logger,
		repo:           repo,
		loader:         loader,
		builder:        &build.Builder{Loader: loader, Renderer: renderer},
		ids:            newRequestIDs(),
		requestTimeout: fmt.Errorf("%w: the request ran longer than %v", runtime.ErrTimeout, cfg.Limits.Timeout),
		tokens:         auth.NewTokens(cfg.Store),
		refusals:       newRefusals(cfg.RefusalInterval),
		start:          time.Now(),
		nodes:          newRegistry(cfg.Store, cfg.Node),
		published:      make(chan struct{}, 1),
		errors:         newErrorLog(),
		store:          watched,
		ops:            newOpsMetrics(cfg.Version),
	}
	s.releases = newReleases(cfg.Store, repo, cfg.Ref, s.builder, s.log, releaseHooks{
		switched: func(rel *release) {
			s.metrics.switched(string(rel.commit), rel.committed)
			s.resetWindows()
			s.metrics.prune(s.releases)
		},
		rollout: s.rolloutChanged,
		failed:  func(*buildFailure) { s.metrics.buildFailures.Inc() },
		changed: s.changed,
	})
	s.collector = s.newCollector()
	s.publisher = &publisher{store: cfg.Store, repo: repo, gate: s.gateOptions(false), storedClasses: s.storedClasses, log: s.log,
		checked: s.ops.gateChecked}
	s.publisher.buildIndexes = s.buildIndexes
	g := newGuard(s)
	s.api = s.apiHandler(g)
	s.editor = s.editorHandler(g.forEditor())
	s.previews = newPreviewCache()
	s.preview = g.authorized(auth.Developer, s.serveAPI(s.servePreview))
	s.metrics = newMetrics(s)
	return s, nil
}

// Loader returns the server's module loader (for statistics).
func (s *Server) Loader() *runtime.Loader { return s.loader }

// Repo returns the code repository the server serves from.
func (s *Server) Repo() *code.Repo { return s.repo }

// Tokens returns the server's token records.
func (s *Server) Tokens() *auth.Tokens { return s.tokens }

// Start serves the release of the current ref and follows the ref until Close. It fails only
// if the store cannot be read; if the current commit cannot be loaded for a passing reason,
// the node starts without it and keeps trying.
func (s *Server) Start(ctx context.Context) error {
	if err := s.releases.start(ctx); err != nil {
		return err
	}
	ctx, s.cancel = context.WithCancel(context.Background())
	s.running.Add(3)
	go s.publish(ctx)
	go s.watchRollout(ctx)
	go s.recordRefusals(ctx)
	return nil
}

// publish keeps this node's record in the registry current until ctx ends: after every
// change of what it serves, and periodically, so that a record lost while the store was
// unreachable comes back.
func (s *Server) publish(ctx context.Context) {
	defer s.running.Done()
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

// Close stops following the store, waits for the node's goroutines (its registry record is
// removed) and releases the loader. It does not close the store.
func (s *Server) Close() error {
	s.releases.close()
	if s.cancel != nil {
		s.cancel()
		s.running.Wait()
	}
	return s.loader.Close()
}

// ServeHTTP routes /-/ to the platform and everything else to the app. Every response
// carries the security headers (see securityWriter), every answer of the platform the
// api.MarkerHeader (which stored code cannot set), and the app never sees a credential of
// the platform (see forApp).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w, logged := s.sampleAccess(w)
	if logged != nil {
		defer s.logAccess(logged, r, time.Now())
	}
	w = withSecurityHeaders(w, r)
	limitBody(w, r, s.cfg.BodyTimeout)
	platform := r.URL.Path == "/-" || strings.HasPrefix(r.URL.Path, "/-/")
	if platform {
		w.Header().Set(api.MarkerHeader, api.MarkerValue)
	}
	switch {
	case r.URL.Path == "/-/health":
		s.serveHealth(w, r)
	case r.URL.Path == "/-/ready":
		s.serveReady(w, r)
	case r.URL.Path == "/-/status":
		s.serveStatus(w, r)
	case r.URL.Path == "/-/metrics":
		s.metrics.handler().ServeHTTP(w, r)
	case len(r.URL.Path) >= 7 && r.URL.Path[:7] == "/-/api/":
		s.api.ServeHTTP(w, r)
	case r.URL.Path == "/-/ui" || strings.HasPrefix(r.URL.Path, "/-/ui/"):
		ui.ServeHTTP(w, r)
	case strings.HasPrefix(r.URL.Path, previewPrefix):
		s.preview.ServeHTTP(w, r)
	case platform:
		http.NotFound(w, r)
	case r.Header.Get("Service-Worker") == "script" && path.Dir(r.URL.EscapedPath()) == "/":
		// A service worker's scope is at most its script's directory (Service-Worker-Allowed,
		// which could widen it, is refused by runtime.PlatformHeader): a script at the root
		// would control the platform's pages under /-/ as well as the application's.
		http.Error(w, "A service worker script must not be served from the root: its scope would cover the platform's pages under /-/. Serve it from a directory, such as /app/sw.js (scope /app/).", http.StatusForbidden)
	default:
		// The affinity cookie is the platform's (starbase-*): read before forApp removes it.
		affinity := affinityKey(r)
		r = forApp(r)
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		route, served := s.serveApp(sw, r, affinity)
		d := time.Since(start)
		s.metrics.observe(route, sw.status, d)
		if served != nil {
			served.series.observe(sw.status, d)
			if cw := s.windows.Load().of(served.rel.commit); cw != nil {
				cw.observe(start.Add(d), sw.status, d)
			}
		}
		if logged != nil {
			logged.route, logged.requestID = route, sw.requestID
		}
	}
}

// statusWriter remembers the status of a response, for metrics, and for the access log the
// route and request id of an app request (serveApp sets the id).
type statusWriter struct {
	http.ResponseWriter
	status           int
	route, requestID string
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// serveApp runs one app request against the release picked at its start: the current one,
// or while a rollout runs, the one its pin or affinity key (the value of its AffinityCookie,
// "" for none) chooses (see pick). It returns the
// route pattern that served it and the release, for metrics (nil when none ran it).
func (s *Server) serveApp(w http.ResponseWriter, r *http.Request, affinity string) (route string, served *servedRelease) {
	route = "-"
	if h := r.Header.Get("Starbase-Min-Revision"); h != "" {
		if !s.holdForRevision(w, r, h) {
			return route, nil
		}
	}
	rel := s.pick(w, r, affinity)
	if rel == nil {
		s.noRelease(w, r)
		return route, nil
	}
	served = s.served(rel)
	return s.serveRelease(w, r, served), served
}

// serveRelease runs one app request on the release of served. It returns the route
// pattern that served it, for metrics.
func (s *Server) serveRelease(w http.ResponseWriter, r *http.Request, served *servedRelease) (route string) {
	route = "-"
	rel := served.rel
	w.Header()["Starbase-Commit"] = served.commitHeader
	if s.serveStatic(w, r, rel) {
		return staticRoute
	}
	reqID := s.ids.next()
	if sw, ok := w.(*statusWriter); ok {
		sw.requestID = reqID
	}
	ar := newAppRequest(s.cfg.Limits)
	// One print budget for the request, however many times a conflict re-runs its handler.
	prints := &ar.prints
	defer func() {
		if prints.Dropped() > 0 {
			prints.Report(context.WithoutCancel(r.Context()), s.log, "print output over the per-request limit was dropped",
				slog.String("request_id", reqID))
		}
	}()
	if rel.app.Missing {
		http.Error(w, fmt.Sprintf("Commit %s has no %s, so there is no app to serve: push one that defines routes or handle(req).",
			rel.commit.Short(), build.EntryPoint), http.StatusServiceUnavailable)
		return route
	}
	rt, ok := rel.app.Match(r, &ar.matcher)
	if !ok {
		miss := &ar.matcher
		// handle(req) takes the paths no route matches; a path a route matches with another
		// method is 405 with Allow, whatever handle would say.
		if rel.app.Handle == nil || miss.Status != http.StatusNotFound {
			for k, v := range miss.Header() {
				w.Header()[k] = v
			}
			if miss.Status < 400 || !s.appPages(w, r, rel)(miss.Status, map[string]any{"message": http.StatusText(miss.Status)}) {
				http.Error(w, http.StatusText(miss.Status), miss.Status)
			}
			return route
		}
		rt = build.Route{Fn: rel.app.Handle}
	}
	route = rt.Pattern
	if route == "" {
		route = "handle"
	}
	body, err := readBody(r, s.cfg.MaxBodyBytes)
	if err != nil {
		http.Error(w, err.Error(), statusOf(err))
		return route
	}
	args := ar.setRequest(web.Incoming{HTTP: r, ID: reqID, Params: rt.Params, Body: body, Proxies: s.cfg.TrustedProxies})
	// The request's clock (time.now()): one instant, however many times a conflict re-runs
	// its handler.
	now := s.cfg.Clock()
	sess := appsession.NewState(r.Context(), s.cfg.AppKeys, r, now)
	if err := sess.CheckCSRF(r, body); err != nil {
		s.refuseCSRF(w, r, err)
		return route
	}
	var run *appsession.Run // the session of the handler's last run
	var result starlark.Value
	// One deadline bounds the request, however many times a conflict re-runs its handler;
	// the loader then sets no timer of its own.
	ctx, cancel := context.WithTimeoutCause(r.Context(), s.cfg.Limits.Timeout, s.requestTimeout)
	defer cancel()
	runs := 0
	var last *objects.Tx // the transaction of the handler's last run
	data := dataOf(r, s.cfg.Data)
	err = objects.Run(ctx, data, served.resolver, s.cfg.TxAttempts, func(tx *objects.Tx) (err error) {
		runs++
		last = tx
		run = sess.Begin()
		result, err = s.loader.Call(ctx, rel.snap, rt.Fn, args, nil, runtime.CallOptions{
			RequestID: reqID, Prints: prints, Now: now, Bind: func(t *starlark.Thread) { objects.Bind(t, tx); appsession.Bind(t, run); ar.value.SetThread(t) },
		})
		if err == nil && errorStatus(result) && !tx.CommitOnError() {
			return errRolledBack // answered below, with nothing written (apperrors.go)
		}
		return err
	})
	s.ops.transaction(runs, err)
	s.store.dataOutcome(data.Name(), err, err == nil && last != nil && last.Wrote())
	if errors.Is(err, errRolledBack) {
		err = nil
	}
	if err != nil && answerDataError(w, r, err, s.appPages(w, r, rel)) {
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
	if err := setSessionCookie(w, sess, run); err != nil {
		s.fail(w, r, rel, reqID, err)
		return route
	}
	for _, h := range rep.headers {
		w.Header().Add(h[0], h[1])
	}
	if rep.contentType != nil {
		w.Header()["Content-Type"] = rep.contentType
	}
	w.WriteHeader(rep.status)
	w.Write(rep.body)
	return route
}

// servedRelease is what app requests need of a release beyond the release itself, made
// once per release rather than per request.
type servedRelease struct {
	rel          *release
	commitHeader []string // the value of Starbase-Commit
	resolver     objects.ClassResolver
	series       commitSeries // the per-commit metrics
}

// served returns the servedRelease of rel, made by the first request on rel (and again
// if requests on two releases alternate, while a switch finishes). The first request on
// the current release also lets the metrics drop the routes it no longer serves.
func (s *Server) served(rel *release) *servedRelease {
	slot := &s.servedNew
	if rel == s.releases.current.Load() {
		slot = &s.servedRel
	}
	if sr := slot.Load(); sr != nil && sr.rel == rel {
		return sr
	}
	if slot == &s.servedRel {
		s.metrics.serving(rel.app)
	}
	sr := &servedRelease{rel: rel, commitHeader: []string{string(rel.commit)}, resolver: s.classResolver(rel),
		series: s.metrics.commitSeries(rel.commit)}
	slot.Store(sr)
	return sr
}
