package server

import (
	"context"
	"maps"
	"net/http"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/starbase/starbase/build"
	"github.com/starbase/starbase/code"
)

// metrics are a node's Prometheus metrics, served at /-/metrics. Each Server has its own
// registry, so several servers in one process (tests) do not share counters.
//
// The series of app requests are labelled by route pattern. Each route's series are
// cached (routeSeries), so that recording a request looks no label up; when the node
// starts serving another app, the series of the routes it no longer serves are deleted,
// so that a node serving many deploys does not keep every route it ever served.
type metrics struct {
	registry    *prometheus.Registry
	requests    *prometheus.CounterVec
	latency     *prometheus.HistogramVec
	commit      *prometheus.GaugeVec
	propagation prometheus.Gauge
	switches    prometheus.Counter
	// buildFailures counts the commits (and distinct errors) that failed to build here.
	buildFailures prometheus.Counter
	// The per-commit series of app requests (two commits while a rollout runs), labelled
	// by short commit id; commitLabels (guarded by mu) lists the labels kept by prune.
	commitRequests *prometheus.CounterVec
	commitErrors   *prometheus.CounterVec
	commitLatency  *prometheus.HistogramVec
	commitLabels   map[string]bool

	// routes holds the cached series by route; it is replaced, never changed, so that
	// readers take no lock.
	routes atomic.Pointer[map[string]*routeSeries]
	// served is the app whose routes the cache was last pruned for.
	served atomic.Pointer[build.App]
	// mu serializes the replacements of routes and the prunes.
	mu sync.Mutex
}

// routeSeries are the series of one route: its latency, and its request counter by
// status code, copied on write like metrics.routes.
type routeSeries struct {
	latency prometheus.Observer
	codes   atomic.Pointer[map[int]prometheus.Counter]
	mu      sync.Mutex // serializes the replacements of codes
}

func newMetrics(s *Server) *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "starbase_http_requests_total",
			Help: "HTTP requests by route pattern and status code.",
		}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "starbase_http_request_duration_seconds",
			Help:    "HTTP request latency by route pattern.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route"}),
		commit: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "starbase_serving_commit",
			Help: "1 for the commit this node serves.",
		}, []string{"commit"}),
		propagation: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "starbase_last_switch_propagation_seconds",
			Help: "Time from the last ref change being committed (its commit time) to this node serving it.",
		}),
		switches: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "starbase_release_switches_total",
			Help: "Times this node switched the commit it serves.",
		}),
		buildFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "starbase_release_build_failures_total",
			Help: "Commits of the ref that failed to build on this node (each distinct error once).",
		}),
		commitRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "starbase_commit_requests_total",
			Help: "App requests by the commit (short id) that ran them: the current release and, during a rollout, the rollout's.",
		}, []string{"commit"}),
		commitErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "starbase_commit_errors_total",
			Help: "App requests answered 5xx (errors of stored code included) by the commit (short id) that ran them.",
		}, []string{"commit"}),
		commitLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "starbase_commit_request_duration_seconds",
			Help:    "App request latency by the commit (short id) that ran them.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"commit"}),
		commitLabels: map[string]bool{},
	}
	stat := func(name, help string, get func() float64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, get)
	}
	m.registry.MustRegister(
		m.requests, m.latency, m.commit, m.propagation, m.switches, m.buildFailures,
		m.commitRequests, m.commitErrors, m.commitLatency,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "starbase_rollout_percent",
			Help: "The share of app requests, in percent, that the running rollout's commit gets now (0 when none runs).",
		}, func() float64 {
			if c := s.releases.candidate.Load(); c.serving() != nil {
				return float64(c.rollout.Percent(time.Now()))
			}
			return 0
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "starbase_release_build_failing",
			Help: "1 while the commit the ref names does not build on this node, which serves its last working release (or none).",
		}, func() float64 {
			if s.releases.failed.Load() != nil {
				return 1
			}
			return 0
		}),
		// Besides the memstats, the live heap the last collection marked: what the node holds,
		// without the garbage that GOGC lets pile up between collections (PaceGC).
		collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(
			collectors.GoRuntimeMetricsRule{Matcher: regexp.MustCompile(`^/gc/heap/live:bytes$`)})),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		stat("starbase_module_runs_total", "Module top levels run (cache misses that executed).",
			func() float64 { return float64(s.loader.Stats().ModuleRuns) }),
		stat("starbase_module_cache_hits_total", "Module loads served from the module cache.",
			func() float64 { return float64(s.loader.Stats().ModuleHits) }),
		stat("starbase_module_cache_misses_total", "Module loads that missed the module cache.",
			func() float64 { return float64(s.loader.Stats().ModuleMisses) }),
		stat("starbase_compiles_total", "Modules compiled from source.",
			func() float64 { return float64(s.loader.Stats().Compiles) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "starbase_applied_revision",
			Help: "Store revision up to which this node has applied ref changes.",
		}, func() float64 { return float64(s.releases.applied.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "starbase_revision_lag",
			Help: "Store revisions committed that this node has not yet applied (0 when current).",
		}, func() float64 { return float64(s.revisionLag()) }),
	)
	m.registry.MustRegister(s.store.collectors()...)
	m.registry.MustRegister(s.ops.collectors()...)
	m.registry.MustRegister(s.collectorMetrics()...)
	return m
}

// observe records one finished request.
func (m *metrics) observe(route string, code int, d time.Duration) {
	rs := m.route(route)
	rs.counter(m, route, code).Inc()
	rs.latency.Observe(d.Seconds())
}

// route returns the cached series of route, making them on first use.
func (m *metrics) route(route string) *routeSeries {
	if routes := m.routes.Load(); routes != nil {
		if rs, ok := (*routes)[route]; ok {
			return rs
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	old := m.routes.Load()
	if old != nil {
		if rs, ok := (*old)[route]; ok {
			return rs
		}
	}
	rs := &routeSeries{latency: m.latency.WithLabelValues(route)}
	routes := make(map[string]*routeSeries, 1+len(ptrValue(old)))
	maps.Copy(routes, ptrValue(old))
	routes[route] = rs
	m.routes.Store(&routes)
	return rs
}

// counter returns the request counter of route and code, making it on first use.
func (rs *routeSeries) counter(m *metrics, route string, code int) prometheus.Counter {
	if codes := rs.codes.Load(); codes != nil {
		if c, ok := (*codes)[code]; ok {
			return c
		}
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	old := rs.codes.Load()
	if old != nil {
		if c, ok := (*old)[code]; ok {
			return c
		}
	}
	c := m.requests.WithLabelValues(route, strconv.Itoa(code))
	codes := make(map[int]prometheus.Counter, 1+len(ptrValue(old)))
	maps.Copy(codes, ptrValue(old))
	codes[code] = c
	rs.codes.Store(&codes)
	return c
}

// ptrValue returns *p, or the zero value for a nil p.
func ptrValue[T any](p *T) (v T) {
	if p != nil {
		v = *p
	}
	return v
}

// serving is called by every app request with the app it runs. The first request on another app deletes the series of the routes that
// app does not have. A request still running on the previous app may record its route
// again after that; its series then wait for the next prune.
func (m *metrics) serving(a *build.App) {
	if m.served.Load() == a {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.served.Load() == a {
		return
	}
	m.served.Store(a)
	keep := map[string]bool{"-": true, staticRoute: true}
	if a != nil {
		for _, p := range a.Patterns {
			keep[p] = true
		}
		if a.Handle != nil {
			keep["handle"] = true
		}
	}
	old := ptrValue(m.routes.Load())
	routes := make(map[string]*routeSeries, len(old))
	for route, rs := range old {
		if keep[route] {
			routes[route] = rs
			continue
		}
		m.requests.DeletePartialMatch(prometheus.Labels{"route": route})
		m.latency.DeleteLabelValues(route)
	}
	m.routes.Store(&routes)
}

// switched records that the node now serves commit, committed at committed.
func (m *metrics) switched(commit string, committed time.Time) {
	m.commit.Reset()
	m.commit.WithLabelValues(commit).Set(1)
	m.switches.Inc()
	if !committed.IsZero() {
		m.propagation.Set(time.Since(committed).Seconds())
	}
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}

// revisionLag is how far this node is behind the store (see releases.lag).
func (s *Server) revisionLag() int64 {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	return s.releases.lag(ctx)
}

// commitSeries are the per-commit series of one commit, looked up once per release (see
// Server.served) so that recording a request looks no label up.
type commitSeries struct {
	requests, errors prometheus.Counter
	latency          prometheus.Observer
}

// observe records a request of the commit answered with status after d.
func (cs commitSeries) observe(status int, d time.Duration) {
	if cs.requests == nil {
		return
	}
	cs.requests.Inc()
	if status >= 500 {
		cs.errors.Inc()
	}
	cs.latency.Observe(d.Seconds())
}

// commitSeries returns the series of commit, labelled by its short id.
func (m *metrics) commitSeries(commit code.ID) commitSeries {
	l := commit.Short()
	return commitSeries{
		requests: m.commitRequests.WithLabelValues(l),
		errors:   m.commitErrors.WithLabelValues(l),
		latency:  m.commitLatency.WithLabelValues(l),
	}
}

// prune deletes the per-commit series of the commits rs no longer holds, so that a node
// serving many deploys does not keep a series for each.
func (m *metrics) prune(rs *releases) {
	keep := map[string]bool{}
	if cur := rs.current.Load(); cur != nil {
		keep[cur.commit.Short()] = true
	}
	if c := rs.candidate.Load(); c != nil && c.rel != nil {
		keep[c.rel.commit.Short()] = true
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for l := range m.commitLabels {
		if !keep[l] {
			m.commitRequests.DeleteLabelValues(l)
			m.commitErrors.DeleteLabelValues(l)
			m.commitLatency.DeleteLabelValues(l)
			delete(m.commitLabels, l)
		}
	}
	for l := range keep {
		m.commitLabels[l] = true
	}
}
