package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/starbase/starbase/bench/apps"
)

// served counts the answers of a deploy run by (commit, version), to find answers that mix
// revisions: a body whose version is not the one of the commit in Starbase-Commit.
type served struct {
	mu     sync.Mutex // guards counts
	counts map[servedKey]int64
}

type servedKey struct {
	commit  string
	version int
}

func (s *served) check(_ int, h http.Header, body []byte) error {
	var v struct{ Version int }
	if err := json.Unmarshal(body, &v); err != nil {
		return fmt.Errorf("body %.100q: %w", body, err)
	}
	k := servedKey{h.Get("Starbase-Commit"), v.Version}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.counts[k]++
	return nil
}

// versions records the version of every commit pushed.
type versions struct {
	mu sync.Mutex // guards of
	of map[string]int
}

func (v *versions) add(commit string, version int) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.of[commit] = version
}

// deploys serves a steady load while pushing a new version every e.cfg.deployEvery, and
// compares it with the same load without pushes, half before and half after.
func deploys(ctx context.Context, e *env) (*section, error) {
	sec := newSection()
	data, err := e.dir("deploys")
	if err != nil {
		return nil, err
	}
	node, err := e.startStarbase(ctx, "deploys", data, "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	defer node.stop()
	pushed := &versions{of: map[string]int{}}
	res, err := push(ctx, node, apps.Starlark(1), "version 1")
	if err != nil {
		return nil, err
	}
	pushed.add(res.Commit, 1)
	if err := waitServing(ctx, node, res.Commit, res.Revision); err != nil {
		return nil, err
	}

	seen := &served{counts: map[servedKey]int64{}}
	gen := goLoad{conns: e.cfg.conns, check: seen.check}
	url := node.url + "/hello/Ada"
	if _, err := gen.run(ctx, url, e.cfg.warmup); err != nil {
		return nil, err
	}
	before, err := gen.run(ctx, url, e.cfg.deployFor/2)
	if err != nil {
		return nil, err
	}

	loadCtx, stopPushing := context.WithCancel(ctx)
	var (
		pushes   int
		pushErr  error
		pushDone = make(chan struct{})
	)
	go func() {
		defer close(pushDone)
		tick := time.NewTicker(e.cfg.deployEvery)
		defer tick.Stop()
		for version := 2; ; version++ {
			select {
			case <-loadCtx.Done():
				return
			case <-tick.C:
			}
			res, err := push(loadCtx, node, apps.Starlark(version), fmt.Sprintf("version %d", version))
			if err != nil {
				if loadCtx.Err() == nil {
					pushErr = err
				}
				return
			}
			pushed.add(res.Commit, version)
			pushes++
		}
	}()
	during, err := gen.run(ctx, url, e.cfg.deployFor)
	stopPushing()
	<-pushDone
	if err != nil {
		return nil, err
	}
	if pushErr != nil {
		return nil, fmt.Errorf("pushing during the load: %w", pushErr)
	}
	after, err := gen.run(ctx, url, e.cfg.deployFor/2)
	if err != nil {
		return nil, err
	}

	var mixed, unknown int64
	commits := map[string]bool{}
	pushed.mu.Lock()
	for k, n := range seen.counts {
		v, ok := pushed.of[k.commit]
		switch {
		case !ok:
			unknown += n
		case v != k.version:
			mixed += n
		}
		commits[k.commit] = true
	}
	pushed.mu.Unlock()
	base := (before.RPS()*before.Elapsed.Seconds() + after.RPS()*after.Elapsed.Seconds()) / (before.Elapsed + after.Elapsed).Seconds()
	tput := during.RPS() / base

	sec.printf("A steady load (%s, `GET /hello/Ada`) runs for %v while a new version of the app is pushed every %v "+
		"(through the API, validation gate included; one push at a time, so a slow push delays the next); the same load "+
		"runs %v before and %v after without pushes, for the baseline. Every answer is checked: status 200, and the version "+
		"in its body must be the version of the commit its `Starbase-Commit` names, as recorded by the pusher.\n\n",
		gen, e.cfg.deployFor, e.cfg.deployEvery, e.cfg.deployFor/2, e.cfg.deployFor/2)
	sec.printf("| | req/s | p50 | p99 | failed |\n|---|---|---|---|---|\n")
	for _, r := range []struct {
		name string
		res  loadResult
	}{{"before (no pushes)", before}, {"during pushes", during}, {"after (no pushes)", after}} {
		sec.printf("| %s | %s | %s | %s | %d %s |\n", r.name, count(r.res.RPS()), ms(secs(r.res.P50)), ms(secs(r.res.P99)), r.res.Failed, r.res.failedText())
	}
	sec.printf("\nPushes during the load: %d (%.1f per second); commits seen in answers: %d; answers mixing revisions: %d; "+
		"answers naming a commit never pushed: %d. Throughput during pushes: %s of the baseline.\n\n",
		pushes, float64(pushes)/during.Elapsed.Seconds(), len(commits), mixed, unknown, ratio(tput))
	failed := before.Failed + during.Failed + after.Failed
	sec.goal(atMost("failed requests during deploys", float64(during.Failed), 0, count))
	sec.goal(atMost("answers mixing revisions", float64(mixed+unknown), 0, count))
	sec.goal(atLeast("throughput during deploys / without", tput, 0.9, ratio))
	sec.figure("deploys pushes", float64(pushes), false)
	sec.figure("deploys failed", float64(failed), true)
	sec.figure("deploys mixed", float64(mixed+unknown), true)
	sec.figure("deploys throughput ratio", tput, false)
	return sec, nil
}
