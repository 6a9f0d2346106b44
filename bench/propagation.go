package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/starbase/starbase/bench/apps"
)

// propagation measures, push after push, the time from the push being acknowledged to
// every node serving the new commit: on one node over bolt, and on three nodes sharing a
// three-member etcd cluster when the binary can serve from etcd.
func propagation(ctx context.Context, e *env) (*section, error) {
	sec := newSection()
	sec.printf("Each push changes `VERSION` in app.star. Right after the push is acknowledged, a request carrying " +
		"`Starbase-Min-Revision: REV` (the revision the push reported) is sent to every node; the node holds it until it " +
		"has applied that revision, so its answer comes as soon as the node serves the new commit. Propagation is the " +
		"time from the acknowledgement to the last node's answer, which must carry the pushed commit in `Starbase-Commit` " +
		"and the pushed version in its body; *first node* is the time to the first node's answer. Push is the API call " +
		"itself (validation gate and commit); *release build* is the pushed-to node's own measure of building the new " +
		"release (`build_ms` of its \"serving commit\" log line, whole milliseconds).\n\n")
	sec.printf("| Setup | pushes | propagation p50 | p99 | max | first node p50 | push p50 | push p99 | release build p50 |\n|---|---|---|---|---|---|---|---|---|\n")
	if err := propagationBolt(ctx, e, sec); err != nil {
		return nil, err
	}
	if err := propagationEtcd(ctx, e, sec); err != nil {
		return nil, err
	}
	return sec, nil
}

func propagationBolt(ctx context.Context, e *env, sec *section) error {
	data, err := e.dir("propagation")
	if err != nil {
		return err
	}
	node, err := e.startStarbase(ctx, "bolt", data, "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer node.stop()
	m, err := measurePropagation(ctx, e, []*proc{node})
	if err != nil {
		return err
	}
	m.report(sec, "1 node, bolt", "bolt")
	return nil
}

// propagationEtcd runs the three-node measurement if `starbase serve` has an --etcd flag.
func propagationEtcd(ctx context.Context, e *env, sec *section) error {
	nodes, stop, err := e.startCluster(ctx, "node")
	defer stop()
	if errors.Is(err, errNoEtcd) {
		sec.printf("| 3 nodes, 3-member etcd | not run: this `starbase serve` has no `--etcd` flag yet | | | | | | | |\n\n")
		e.note("propagation on 3 nodes with etcd was not run: `starbase serve` has no --etcd flag in this build")
		return nil
	}
	if err != nil {
		return err
	}
	m, err := measurePropagation(ctx, e, nodes)
	if err != nil {
		return err
	}
	m.report(sec, "3 nodes, 3-member etcd", "etcd")
	sec.printf("\n")
	return nil
}

// propagationRun is what measurePropagation measured.
type propagationRun struct {
	propagation, first, push, build []time.Duration
}

// add records one change: asked at start, acknowledged at acked, seen served by the first
// node at first and by every node at last.
func (m *propagationRun) add(start, acked, first, last time.Time) {
	m.propagation = append(m.propagation, last.Sub(acked))
	m.first = append(m.first, first.Sub(acked))
	m.push = append(m.push, acked.Sub(start))
}

// servedAt asks node n for path (minRev and header as getWith) and returns when it
// answered; the error names n unless the answer is version of commit.
func servedAt(ctx context.Context, hc *http.Client, n *proc, path string, minRev int64, header map[string]string, commit string, version int) (time.Time, error) {
	a, err := getWith(ctx, hc, n, path, minRev, header)
	done := time.Now()
	if err == nil {
		err = checkVersion(a, commit, version)
	}
	if err != nil {
		return done, fmt.Errorf("%s: %w", n.name, err)
	}
	return done, nil
}

// measurePropagation pushes e.cfg.pushes versions to nodes[0] and times each until every
// node serves it.
func measurePropagation(ctx context.Context, e *env, nodes []*proc) (propagationRun, error) {
	var m propagationRun
	hc := &http.Client{Timeout: 30 * time.Second}
	for i := range e.cfg.pushes {
		version := i + 2
		start := time.Now()
		res, err := push(ctx, nodes[0], apps.Starlark(version), fmt.Sprintf("version %d", version))
		if err != nil {
			return m, err
		}
		acked := time.Now()
		first, last, err := onEveryNode(nodes, func(n *proc) (time.Time, error) {
			return servedAt(ctx, hc, n, "/hello/Ada", res.Revision, nil, res.Commit, version)
		})
		if err != nil {
			return m, fmt.Errorf("push %d: %w", version, err)
		}
		m.add(start, acked, first, last)
		if d, err := nodes[0].buildTime(res.Commit); err == nil {
			m.build = append(m.build, d)
		}
		if (i+1)%100 == 0 {
			e.logf("%d pushes", i+1)
		}
	}
	return m, nil
}

func (m propagationRun) report(sec *section, setup, key string) {
	p, first, push, build := durations(m.propagation), durations(m.first), durations(m.push), durations(m.build)
	sec.printf("| %s | %d | %s | %s | %s | %s | %s | %s | %s |\n", setup, len(p),
		ms(p.quantile(0.5)), ms(p.quantile(0.99)), ms(p.max()), ms(first.quantile(0.5)),
		ms(push.quantile(0.5)), ms(push.quantile(0.99)), logMS(build.quantile(0.5)))
	sec.figure(key+" propagation p50 s", p.quantile(0.5), false)
	sec.figure(key+" propagation p99 s", p.quantile(0.99), false)
}

// checkVersion checks that an answer of the benchmark app is 200, says it comes from commit,
// and carries version in its body.
func checkVersion(a answer, commit string, version int) error {
	if a.status != http.StatusOK {
		return fmt.Errorf("status %d: %.300s", a.status, a.body)
	}
	if a.commit != commit {
		return fmt.Errorf("Starbase-Commit %q, want %q", a.commit, commit)
	}
	var body struct{ Version int }
	if err := json.Unmarshal(a.body, &body); err != nil {
		return fmt.Errorf("body %.200q: %w", a.body, err)
	}
	if body.Version != version {
		return fmt.Errorf("body has version %d, want %d", body.Version, version)
	}
	return nil
}
