package server

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are a node's Prometheus metrics, served at /-/metrics. Each Server has its own
// registry, so several servers in one process (tests) do not share counters.
type metrics struct {
	registry    *prometheus.Registry
	requests    *prometheus.CounterVec
	latency     *prometheus.HistogramVec
	commit      *prometheus.GaugeVec
	propagation prometheus.Gauge
	switches    prometheus.Counter
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
	}
	stat := func(name, help string, get func() float64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, get)
	}
	m.registry.MustRegister(
		m.requests, m.latency, m.commit, m.propagation, m.switches,
		collectors.NewGoCollector(),
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
		}, func() float64 { return float64(s.applied.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "starbase_revision_lag",
			Help: "Store revisions committed that this node has not yet applied (0 when current).",
		}, func() float64 { return float64(s.revisionLag()) }),
	)
	return m
}

// observe records one finished request.
func (m *metrics) observe(route string, code int, d time.Duration) {
	m.requests.WithLabelValues(route, strconv.Itoa(code)).Inc()
	m.latency.WithLabelValues(route).Observe(d.Seconds())
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

// revisionLag is how far this node is behind the store, counting only what it must apply:
// when the ref has not changed since the applied revision, the node is current.
func (s *Server) revisionLag() int64 {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	applied := s.applied.Load()
	kv, rev, err := s.cfg.Store.Get(ctx, s.refKey(), 0)
	if err != nil {
		return -1
	}
	if kv == nil || kv.ModRevision <= applied {
		return 0
	}
	return rev - applied
}
