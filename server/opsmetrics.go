package server

import (
	"errors"
	"net/http"
	goruntime "runtime"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/starbase/starbase/gate"
	"github.com/starbase/starbase/objects"
)

// opsMetrics are the metrics an operator reads besides those of app requests (metrics.go):
// the API by endpoint and status, the gate, the data transactions and the build.
type opsMetrics struct {
	api         *prometheus.CounterVec
	apiLatency  *prometheus.HistogramVec
	gateRuns    *prometheus.CounterVec
	gateLatency prometheus.Histogram
	txRuns      prometheus.Counter
	txReruns    prometheus.Counter
	txConflicts prometheus.Counter
	buildInfo   *prometheus.GaugeVec
}

func newOpsMetrics(version string) *opsMetrics {
	m := &opsMetrics{
		api: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "starbase_api_requests_total",
			Help: "API requests by endpoint (the route pattern of /-/api/) and status code, refusals included.",
		}, []string{"endpoint", "code"}),
		apiLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "starbase_api_request_duration_seconds",
			Help:    "API request latency by endpoint.",
			Buckets: []float64{.001, .005, .01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"endpoint"}),
		gateRuns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "starbase_gate_checks_total",
			Help: "Validation gate runs of pushes, reverts and ref moves by result: passed, refused (422), error.",
		}, []string{"result"}),
		gateLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "starbase_gate_duration_seconds",
			Help:    "Time the validation gate took on a push, revert or ref move.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}),
		txRuns: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "starbase_data_transactions_total",
			Help: "App requests run as a data transaction (each counted once, however many times it ran).",
		}),
		txReruns: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "starbase_data_transaction_reruns_total",
			Help: "Times an app request ran again because its data transaction conflicted with another.",
		}),
		txConflicts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "starbase_data_conflicts_total",
			Help: "App requests answered 409 starbase.conflict: their transaction conflicted on every run.",
		}),
		buildInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "starbase_build_info",
			Help: "1, labelled with the version of this starbase and of Go.",
		}, []string{"version", "goversion"}),
	}
	if version == "" {
		version = "unknown"
	}
	m.buildInfo.WithLabelValues(version, goruntime.Version()).Set(1)
	return m
}

func (m *opsMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.api, m.apiLatency, m.gateRuns, m.gateLatency, m.txRuns, m.txReruns, m.txConflicts, m.buildInfo}
}

// observeAPI wraps the handler of endpoint so that its answers are counted.
func (m *opsMetrics) observeAPI(endpoint string, h http.HandlerFunc) http.HandlerFunc {
	latency := m.apiLatency.WithLabelValues(endpoint)
	return func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		h(sw, r)
		latency.Observe(time.Since(start).Seconds())
		m.api.WithLabelValues(endpoint, strconv.Itoa(sw.status)).Inc()
	}
}

// gateChecked records one gate run.
func (m *opsMetrics) gateChecked(took time.Duration, err error) {
	m.gateLatency.Observe(took.Seconds())
	var gerr *gate.Error
	switch {
	case err == nil:
		m.gateRuns.WithLabelValues("passed").Inc()
	case errors.As(err, &gerr):
		m.gateRuns.WithLabelValues("refused").Inc()
	default:
		m.gateRuns.WithLabelValues("error").Inc()
	}
}

// transaction records an app request's data transaction that ran runs times and ended
// with err.
func (m *opsMetrics) transaction(runs int, err error) {
	m.txRuns.Inc()
	if runs > 1 {
		m.txReruns.Add(float64(runs - 1))
	}
	if errors.Is(err, objects.ErrConflict) {
		m.txConflicts.Inc()
	}
}
