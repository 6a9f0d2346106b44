package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/starbase/starbase/api"
	"github.com/starbase/starbase/bench/apps"
	"github.com/starbase/starbase/code"
	"github.com/starbase/starbase/server"
)

// The rollout scenario measures a rollout in progress (issue 18) with the built binary, as
// its users meet it: what serving two commits side by side costs a request, what the second
// commit costs a node's memory, and how fast promote and abort reach every node of a
// cluster. Every rollout it starts is one step of 50%, with the automatic rollback's latency
// check off (--max-p99-ratio -1): a loaded machine's p99 says nothing about the commit, and a
// node rolling the rollout back mid-measurement would end the benchmark (the scenario checks
// that it did not).

// rolloutRef is the ref the scenario pushes the commits it rolls out to: main stays the
// commit the nodes serve until a promote.
const rolloutRef = "bench-rollout"

// rolloutPage is the page of the hot path and propagation parts: the small JSON page of
// the benchmark app, whose body carries the app's version.
const rolloutPage = "/hello/Ada"

func rolloutScenario(ctx context.Context, e *env) (*section, error) {
	sec := newSection()
	sec.printf("A rollout serves a commit beside the one `main` names, to a share of the requests (see README, " +
		"Rollouts and previews). Each rollout here is `starbase rollout COMMIT --percent 50` through the API, with the " +
		"automatic rollback's latency check off (`--max-p99-ratio -1`: this machine's p99 is its load's, not the " +
		"commit's); the scenario checks that no node rolled it back while it measured.\n\n")
	if err := rolloutHotPath(ctx, e, sec); err != nil {
		return nil, fmt.Errorf("hot path: %w", err)
	}
	if err := rolloutMemory(ctx, e, sec); err != nil {
		return nil, fmt.Errorf("memory: %w", err)
	}
	if err := rolloutPropagation(ctx, e, sec); err != nil {
		return nil, fmt.Errorf("promote and abort: %w", err)
	}
	return sec, nil
}

// rolloutClient is a kind of client the hot path of a rollout is measured with.
type rolloutClient struct {
	name, label string
	rollout     bool // measured while the rollout runs
}

var rolloutClients = [...]rolloutClient{
	{"one", "one commit, no rollout", false},
	{"returning", "rollout, returning clients (their affinity cookie puts them on the new commit)", true},
	{"new", "rollout, new clients (no cookie: a key is drawn and the cookie set; either commit)", true},
	{"pinned", "rollout, pinned clients (`Starbase-Commit-Pin` names the new commit)", true},
}

// rolloutHotPath measures the small JSON page of one node (bolt) with one commit and during
// a rollout, for each kind of client, in interleaved rounds as the hot path does.
func rolloutHotPath(ctx context.Context, e *env, sec *section) error {
	data, err := e.dir("rollout")
	if err != nil {
		return err
	}
	node, err := e.startStarbase(ctx, "rollout", data, "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer node.stop()
	base, err := push(ctx, node, apps.Starlark(1), "benchmark app")
	if err != nil {
		return err
	}
	if err := waitServing(ctx, node, base.Commit, base.Revision); err != nil {
		return err
	}
	next, err := pushRef(ctx, node, rolloutRef, apps.Starlark(2), "version 2, to roll out")
	if err != nil {
		return err
	}
	hc := &http.Client{Timeout: 30 * time.Second}
	running := false
	setRollout := func(on bool) error {
		if on == running {
			return nil
		}
		if on {
			if err := startRollout(ctx, node, next.Commit); err != nil {
				return err
			}
			if _, err := untilServed(ctx, hc, node, rolloutPage, pin(next.Commit), next.Commit); err != nil {
				return err
			}
		} else {
			if err := abortRollout(ctx, node); err != nil {
				return err
			}
			if _, err := untilServed(ctx, hc, node, rolloutPage, pin(next.Commit), base.Commit); err != nil {
				return err
			}
		}
		running = on
		return nil
	}

	// What each kind of client must be served, checked before anything is measured.
	if err := setRollout(true); err != nil {
		return err
	}
	const fresh = 200
	cookie, share, err := affinityOf(ctx, hc, node, base.Commit, next.Commit, fresh)
	if err != nil {
		return err
	}
	headers := map[string]map[string]string{
		"returning": {"Cookie": server.AffinityCookie + "=" + cookie},
		"pinned":    pin(next.Commit),
	}
	wants := map[string][]string{
		"one": {base.Commit}, "returning": {next.Commit}, "new": {base.Commit, next.Commit}, "pinned": {next.Commit},
	}
	for _, c := range rolloutClients {
		if err := setRollout(c.rollout); err != nil {
			return err
		}
		if err := checkClient(ctx, hc, node, c, headers[c.name], wants[c.name]); err != nil {
			return err
		}
	}

	gens := map[string]loadGen{}
	for _, c := range rolloutClients {
		gens[c.name] = e.loadGenWith(e.cfg.conns, headers[c.name], servedBy(wants[c.name]))
	}
	// stillRunning checks that no node rolled the rollout back while it was measured.
	stillRunning := func() error {
		a, err := getWith(ctx, hc, node, rolloutPage, 0, pin(next.Commit))
		if err == nil && a.commit != next.Commit {
			err = fmt.Errorf("the rollout ended while it was measured (a request pinned to %s was answered by %q): look for \"rollout aborted\" in the node's log:\n%s",
				code.ID(next.Commit).Short(), a.commit, node.lastLines())
		}
		return err
	}
	for _, c := range rolloutClients {
		if err := setRollout(c.rollout); err != nil {
			return err
		}
		if _, err := gens[c.name].run(ctx, node.url+rolloutPage, e.cfg.warmup); err != nil {
			return fmt.Errorf("warming up %s: %w", c.name, err)
		}
	}
	runs := map[string][]hotRun{}
	for r := range e.cfg.rounds {
		for i := range rolloutClients {
			c := rolloutClients[(i+r)%len(rolloutClients)]
			if err := setRollout(c.rollout); err != nil {
				return err
			}
			res, err := measure(ctx, gens[c.name], node, rolloutPage, e.cfg.duration)
			if err != nil {
				return fmt.Errorf("%s: %w", c.name, err)
			}
			if c.rollout {
				if err := stillRunning(); err != nil {
					return err
				}
			}
			e.logf("round %d rollout %-9s %8.0f req/s p50 %-8s p99 %-8s %5.1f µs CPU/req %s", r+1, c.name,
				res.RPS(), ms(secs(res.P50)), ms(secs(res.P99)), res.cpuPerRequest()*1e6, res.failedText())
			runs[c.name] = append(runs[c.name], res)
		}
	}
	reportRolloutHotPath(e, sec, runs, share, fresh)
	return nil
}

func reportRolloutHotPath(e *env, sec *section, runs map[string][]hotRun, share float64, fresh int) {
	sec.printf("### The hot path during a rollout (`GET %s`)\n\n", rolloutPage)
	sec.printf("One node over bolt serving the small JSON page of section 1, alone (*one commit*) and during a rollout "+
		"of a commit that changes the app's version, at 50%%. The rollout is started before, and aborted after, the "+
		"runs that need it; each round runs every kind of client for %v, in a rotated order, %d rounds after a %v "+
		"warm-up of each, with %s. Before measuring, %d requests without a cookie were answered %s by the new "+
		"commit, each setting the affinity cookie; the returning clients send one such cookie, which puts them on "+
		"the new commit. Medians of the rounds, with ranges. On a loaded machine the requests per second follow the "+
		"other processes' share of the cores from one run to the next; the CPU per request, which they do not skew, is "+
		"the figure to compare.\n\n",
		e.cfg.duration, e.cfg.rounds, e.cfg.warmup, e.loadName(), fresh, fmt.Sprintf("%.0f%%", 100*share))
	sec.printf("| Clients | req/s | p50 | p99 | CPU per request | failed |\n|---|---|---|---|---|---|\n")
	var failed float64
	for _, c := range rolloutClients {
		var rps, p50, p99, cpu sample
		var f int64
		for _, r := range runs[c.name] {
			rps = append(rps, r.RPS())
			p50, p99 = append(p50, secs(r.P50)), append(p99, secs(r.P99))
			cpu = append(cpu, r.cpuPerRequest())
			f += r.Failed
		}
		failed += float64(f)
		sec.printf("| %s | %s | %s | %s | %s | %d |\n", c.label, rps.format(count), ms(p50.median()), ms(p99.median()), cpu.format(ms), f)
		sec.figure(c.name+" req/s", rps.median(), false)
		sec.figure(c.name+" cpu per request s", cpu.median(), false)
		sec.figure(c.name+" failed", float64(f), true)
	}
	sec.printf("\n| Against one commit, per round | req/s: median (range) | CPU per request: median (range) |\n|---|---|---|\n")
	for _, c := range rolloutClients[1:] {
		var rps, cpu sample
		for i := range min(len(runs[c.name]), len(runs["one"])) {
			r, one := runs[c.name][i], runs["one"][i]
			rps = append(rps, r.RPS()/one.RPS())
			cpu = append(cpu, r.cpuPerRequest()/one.cpuPerRequest())
		}
		sec.printf("| %s | %s | %s |\n", c.name, rps.format(ratio3), cpu.format(ratio3))
		sec.figure(c.name+"/one req/s", rps.median(), false)
	}
	sec.printf("\nA CPU ratio above 1 is what the rollout adds to a request: choosing the commit (the pin, or the cookie's " +
		"bucket; drawing a key and setting the cookie for a new client) and counting the request in the rollback's " +
		"window. The two commits run the same code but for the version, so the rest is equal.\n\n")
	sec.figure("new clients on the new commit", share, false)
	sec.goal(atMost("rollout: no failed request, every kind of client", failed, 0, count))
}

// affinityOf sends n requests without a cookie during a rollout: every one must be answered
// by base or next and set the affinity cookie, and both must answer some. It returns a
// cookie value that next answered, and the share of the requests next answered.
func affinityOf(ctx context.Context, hc *http.Client, p *proc, base, next string, n int) (cookie string, share float64, err error) {
	served := map[string]int{}
	for range n {
		a, err := get(ctx, hc, p, rolloutPage, 0)
		if err != nil {
			return "", 0, err
		}
		if a.status != http.StatusOK || (a.commit != base && a.commit != next) {
			return "", 0, fmt.Errorf("GET %s during a rollout: status %d from commit %q, want 200 from %s or %s", rolloutPage,
				a.status, a.commit, code.ID(base).Short(), code.ID(next).Short())
		}
		key := affinityCookie(a.header)
		if key == "" {
			return "", 0, fmt.Errorf("GET %s without a cookie during a rollout: the answer set no %s cookie", rolloutPage, server.AffinityCookie)
		}
		served[a.commit]++
		if a.commit == next && cookie == "" {
			cookie = key
		}
	}
	if served[base] == 0 || served[next] == 0 {
		return "", 0, fmt.Errorf("%d new clients during a 50%% rollout: %d answered by the current commit, %d by the new one; want both", n, served[base], served[next])
	}
	return cookie, float64(served[next]) / float64(n), nil
}

// checkClient sends a few requests as client c and checks that each is answered by one of
// want, and that the affinity cookie is set exactly when it should be: to new clients, and
// never without a rollout.
func checkClient(ctx context.Context, hc *http.Client, p *proc, c rolloutClient, header map[string]string, want []string) error {
	for range 20 {
		a, err := getWith(ctx, hc, p, rolloutPage, 0, header)
		if err != nil {
			return err
		}
		if err := servedBy(want)(a.status, a.header, a.body); err != nil {
			return fmt.Errorf("%s clients: %w", c.name, err)
		}
		setsCookie := affinityCookie(a.header) != ""
		if wantCookie := c.name == "new"; setsCookie != wantCookie {
			return fmt.Errorf("%s clients: the answer sets the affinity cookie: %v, want %v", c.name, setsCookie, wantCookie)
		}
	}
	return nil
}

// servedBy returns a check of an answer: 200, from one of commits.
func servedBy(commits []string) func(int, http.Header, []byte) error {
	return func(status int, h http.Header, body []byte) error {
		if status != http.StatusOK {
			return fmt.Errorf("status %d: %.200s", status, body)
		}
		if got := h.Get("Starbase-Commit"); !slices.Contains(commits, got) {
			return fmt.Errorf("answered by commit %q, want one of %v", got, commits)
		}
		return nil
	}
}

// affinityCookie returns the value of the affinity cookie an answer sets, or "".
func affinityCookie(h http.Header) string {
	for _, c := range (&http.Response{Header: h}).Cookies() {
		if c.Name == server.AffinityCookie {
			return c.Value
		}
	}
	return ""
}

// pin returns the header that pins a request to commit while a rollout runs.
func pin(commit string) map[string]string { return map[string]string{server.PinHeader: commit} }

// startRollout starts a rollout of commit on main through node p's API: one step of 50%,
// the latency check of the automatic rollback off.
func startRollout(ctx context.Context, p *proc, commit string) error {
	c, err := p.admin()
	if err != nil {
		return err
	}
	if _, err := c.StartRollout(ctx, api.RolloutRequest{Commit: commit, Steps: []int{50},
		Thresholds: api.RolloutThresholds{MaxP99Ratio: -1}}); err != nil {
		return fmt.Errorf("starting a rollout of %s on %s: %w", code.ID(commit).Short(), p.name, err)
	}
	return nil
}

func abortRollout(ctx context.Context, p *proc) error {
	c, err := p.admin()
	if err != nil {
		return err
	}
	if _, err := c.AbortRollout(ctx, api.RolloutAction{Reason: "benchmark"}); err != nil {
		return fmt.Errorf("aborting the rollout on %s: %w", p.name, err)
	}
	return nil
}

func promoteRollout(ctx context.Context, p *proc) (api.CommitResult, error) {
	c, err := p.admin()
	if err != nil {
		return api.CommitResult{}, err
	}
	res, err := c.PromoteRollout(ctx, api.RolloutAction{})
	if err != nil {
		return res, fmt.Errorf("promoting the rollout on %s: %w", p.name, err)
	}
	return res, nil
}

// untilServed sends GET path with header to p, one request after the other, until one is
// answered by commit, and returns when that answer arrived. An answer other than 200 fails
// it, as does a minute without commit's answer.
func untilServed(ctx context.Context, hc *http.Client, p *proc, path string, header map[string]string, commit string) (time.Time, error) {
	deadline := time.Now().Add(time.Minute)
	for {
		a, err := getWith(ctx, hc, p, path, 0, header)
		if err != nil {
			return time.Time{}, err
		}
		if a.status != http.StatusOK {
			return time.Time{}, fmt.Errorf("%s: GET %s: status %d: %.200s", p.name, path, a.status, a.body)
		}
		if a.commit == commit {
			return time.Now(), nil
		}
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("%s: GET %s still answered by %q after a minute, want %s", p.name, path, a.commit, code.ID(commit).Short())
		}
	}
}

// onEveryNode runs f for every node at once, and returns the first and the last times f
// returned (f returns when its node did what it waits for).
func onEveryNode(nodes []*proc, f func(p *proc) (time.Time, error)) (first, last time.Time, err error) {
	var wg sync.WaitGroup
	times := make([]time.Time, len(nodes))
	errs := make([]error, len(nodes))
	for i, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			times[i], errs[i] = f(n)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return first, last, err
	}
	return slices.MinFunc(times, time.Time.Compare), slices.MaxFunc(times, time.Time.Compare), nil
}

// memReading is a node's memory at one moment.
type memReading struct {
	live  float64 // go_gc_heap_live_bytes: the live heap the last collection marked
	inuse float64 // go_memstats_heap_inuse_bytes
	rss   float64 // VmRSS
}

// rolloutMemory reads the memory of fresh nodes serving the ERP example with one commit,
// then two (a rollout of a commit that changes one module), then one again (aborted).
func rolloutMemory(ctx context.Context, e *env, sec *section) error {
	var one, two, after []memReading
	for range e.cfg.rolloutNodes {
		o, t, a, err := rolloutMemoryOfANode(ctx, e)
		if err != nil {
			return err
		}
		one, two, after = append(one, o), append(two, t), append(after, a)
		e.logf("rollout memory: live heap %s one commit, %s two, %s after the abort; RSS %s, %s, %s",
			mib(o.live), mib(t.live), mib(a.live), mib(o.rss), mib(t.rss), mib(a.rss))
	}
	of := func(rs []memReading, f func(memReading) float64) sample {
		var s sample
		for _, r := range rs {
			s = append(s, f(r))
		}
		return s
	}
	diff := func(f func(memReading) float64) sample {
		var s sample
		for i := range one {
			s = append(s, f(two[i])-f(one[i]))
		}
		return s
	}
	live := func(r memReading) float64 { return r.live }
	inuse := func(r memReading) float64 { return r.inuse }
	rss := func(r memReading) float64 { return r.rss }
	sec.printf("### Memory of a node serving two commits\n\n")
	sec.printf("%s, each `starbase serve --demo=erp` over bolt (the ERP example, %d modules), with a "+
		"session of its `sales` user. The second commit is the same tree with one module changed "+
		"(`views/products.star`, one constant added), pushed to another ref. Memory is read three times on each node: "+
		"serving main alone after its dashboard and products pages were served; during a 50%% rollout of the second "+
		"commit, after both pages were served by each commit; and after the rollout was aborted. Each reading drives "+
		"those pages, one request at a time, until the Go collector has run %s, and takes the least live heap "+
		"those collections marked (`go_gc_heap_live_bytes` of `/-/metrics`: what the node holds, without the garbage "+
		"the serving pace of GOGC=400 lets grow between collections, and with the fewest requests in flight), then the "+
		"heap in use (`go_memstats_heap_inuse_bytes`, garbage included) and the resident set (/proc). Medians over "+
		"the nodes, with ranges.\n\n", plural(e.cfg.rolloutNodes, "fresh node", "fresh nodes"), erpModules(), plural(e.cfg.rolloutGCs, "time", "times"))
	sec.printf("| Node serving | Go live heap | Go heap in use | RSS |\n|---|---|---|---|\n")
	for _, row := range []struct {
		label string
		rs    []memReading
	}{{"main alone (one commit)", one}, {"main and the rollout's commit (two commits)", two}, {"main alone again, after the abort", after}} {
		sec.printf("| %s | %s | %s | %s |\n", row.label, of(row.rs, live).format(mib), of(row.rs, inuse).format(mib), of(row.rs, rss).format(mib))
	}
	kib := func(v float64) string { return count(v/1024) + " KiB" }
	sec.printf("| **second commit, two − one, per node** | **%s** | %s | %s |\n\n", diff(live).format(kib), diff(inuse).format(kib), diff(rss).format(kib))
	sec.printf("The second commit costs its release (routes, the modules that changed and those that load them, " +
		"compiled and run) while the unchanged modules' compiled programs and instances are shared through the " +
		"loader's caches, which are keyed by content. After the abort the caches still hold what the second commit " +
		"compiled until newer commits push it out (they are bounded), so memory does not drop back at once. The heap " +
		"in use and the RSS include the garbage between collections, hence their spread.\n\n")
	sec.figure("memory live one commit", of(one, live).median(), false)
	sec.figure("memory live two commits", of(two, live).median(), false)
	sec.figure("memory rss two commits", of(two, rss).median(), false)
	return nil
}

// rolloutMemoryOfANode starts an ERP node and reads its memory with one commit, two, and
// one again (see rolloutMemory).
func rolloutMemoryOfANode(ctx context.Context, e *env) (one, two, after memReading, err error) {
	data, err := e.dir("rollout-erp")
	if err != nil {
		return
	}
	node, err := e.startStarbase(ctx, "rollout-erp", data, "127.0.0.1:0", "--demo=erp")
	if err != nil {
		return
	}
	defer node.stop()
	hc := &http.Client{Timeout: time.Minute, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	cookie, err := erpWebLogin(ctx, hc, node.url)
	if err != nil {
		return
	}
	e.logf("rollout memory: ERP node started and logged in")
	web := map[string]string{"Cookie": cookie}
	pages := []string{"/", "/products"}
	a, err := getWith(ctx, hc, node, pages[0], 0, web)
	if err != nil {
		return
	}
	if a.status != http.StatusOK || a.commit == "" {
		err = fmt.Errorf("GET / as the sales user: status %d, commit %q: %.200s", a.status, a.commit, a.body)
		return
	}
	base := a.commit
	c, err := node.admin()
	if err != nil {
		return
	}
	files, err := c.Files(ctx, base)
	if err != nil {
		return
	}
	const changed = "views/products.star"
	if _, ok := files.Files[changed]; !ok {
		err = fmt.Errorf("the ERP example has no %s to change", changed)
		return
	}
	files.Files[changed] = append(slices.Clip(files.Files[changed]), "\n# A second commit of the bench harness: one module changed.\nROLLOUT_BENCH = 1\n"...)
	next, err := pushRef(ctx, node, rolloutRef, files.Files, "ERP with one module changed")
	if err != nil {
		return
	}
	both := func(commits ...string) error { // every page once pinned to each of commits
		for _, commit := range commits {
			for _, path := range pages {
				a, err := getWith(ctx, hc, node, path, 0, withHeader(web, pin(commit)))
				if err != nil {
					return err
				}
				if a.status != http.StatusOK || a.commit != commit {
					return fmt.Errorf("GET %s pinned to %s: status %d from commit %q", path, code.ID(commit).Short(), a.status, a.commit)
				}
			}
		}
		return nil
	}
	if err = both(base); err != nil {
		return
	}
	if one, err = readMemory(ctx, e, hc, node, pages, web); err != nil {
		return
	}
	e.logf("rollout memory: one commit read")
	if err = startRollout(ctx, node, next.Commit); err != nil {
		return
	}
	if _, err = untilServed(ctx, hc, node, pages[0], withHeader(web, pin(next.Commit)), next.Commit); err != nil {
		return
	}
	if err = both(base, next.Commit); err != nil {
		return
	}
	if two, err = readMemory(ctx, e, hc, node, pages, web); err != nil {
		return
	}
	if err = abortRollout(ctx, node); err != nil {
		return
	}
	if _, err = untilServed(ctx, hc, node, pages[0], withHeader(web, pin(next.Commit)), base); err != nil {
		return
	}
	after, err = readMemory(ctx, e, hc, node, pages, web)
	return
}

// readMemory requests pages of node p with header, one at a time, until it has seen
// e.cfg.rolloutGCs garbage collections, and reads the node's memory (see memReading): the
// least live heap of those collections (with rolloutGCs 0, in smoke runs, of whichever
// collection ran last).
func readMemory(ctx context.Context, e *env, hc *http.Client, p *proc, pages []string, header map[string]string) (memReading, error) {
	gcs := func() (float64, error) { return metric(ctx, hc, p, "go_gc_duration_seconds_count") }
	last, err := gcs()
	if err != nil {
		return memReading{}, err
	}
	var lives sample
	deadline := time.Now().Add(5 * time.Minute)
	for i := 0; len(lives) < e.cfg.rolloutGCs; i++ {
		path := pages[i%len(pages)]
		a, err := getWith(ctx, hc, p, path, 0, header)
		if err != nil {
			return memReading{}, err
		}
		if a.status != http.StatusOK {
			return memReading{}, fmt.Errorf("GET %s: status %d: %.200s", path, a.status, a.body)
		}
		if i%10 != 9 {
			continue
		}
		n, err := gcs()
		if err != nil {
			return memReading{}, err
		}
		if n > last {
			live, err := metric(ctx, hc, p, "go_gc_heap_live_bytes")
			if err != nil {
				return memReading{}, err
			}
			lives, last = append(lives, live), n
		}
		if time.Now().After(deadline) {
			return memReading{}, fmt.Errorf("%s: %d garbage collections in 5 minutes of requests, want %d", p.name, len(lives), e.cfg.rolloutGCs)
		}
	}
	if len(lives) == 0 {
		live, err := metric(ctx, hc, p, "go_gc_heap_live_bytes")
		if err != nil {
			return memReading{}, err
		}
		lives = append(lives, live)
	}
	inuse, err := metric(ctx, hc, p, "go_memstats_heap_inuse_bytes")
	if err != nil {
		return memReading{}, err
	}
	m, err := p.memory()
	if err != nil {
		return memReading{}, err
	}
	return memReading{live: lives.min(), inuse: inuse, rss: float64(m.RSS)}, nil
}

// plural returns n with the word that fits it.
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return count(float64(n)) + " " + many
}

// withHeader returns the union of headers (later ones win).
func withHeader(headers ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, h := range headers {
		maps.Copy(out, h)
	}
	return out
}

// rolloutPropagation measures, rollout after rollout on three nodes sharing a three-member
// etcd cluster, the time from an abort or a promote being acknowledged to every node
// serving accordingly.
func rolloutPropagation(ctx context.Context, e *env, sec *section) error {
	sec.printf("### Promote and abort reaching every node\n\n")
	nodes, stop, err := e.startCluster(ctx, "rollout")
	defer stop()
	if errors.Is(err, errNoEtcd) {
		sec.printf("Not run: this `starbase serve` has no `--etcd` flag.\n\n")
		e.note("promote and abort on 3 nodes with etcd were not measured: `starbase serve` has no --etcd flag in this build")
		return nil
	}
	if err != nil {
		return err
	}
	hc := &http.Client{Timeout: 30 * time.Second}
	first, err := push(ctx, nodes[0], apps.Starlark(1), "benchmark app")
	if err != nil {
		return err
	}
	for _, n := range nodes {
		if err := waitServing(ctx, n, first.Commit, first.Revision); err != nil {
			return err
		}
	}
	base := first.Commit
	// runningEverywhere starts a rollout of commit and waits until every node serves it to
	// the requests pinned to it.
	runningEverywhere := func(commit string) error {
		if err := startRollout(ctx, nodes[0], commit); err != nil {
			return err
		}
		_, _, err := onEveryNode(nodes, func(n *proc) (time.Time, error) {
			return untilServed(ctx, hc, n, rolloutPage, pin(commit), commit)
		})
		return err
	}
	var abort, promote propagationRun
	reached := map[string]int{} // node answers that showed the new state, by change
	for i := range e.cfg.rolloutCycles {
		version := i + 2
		next, err := pushRef(ctx, nodes[0], rolloutRef, apps.Starlark(version), fmt.Sprintf("version %d, to roll out", version))
		if err != nil {
			return err
		}

		// Abort: every node polled with requests pinned to the rollout's commit, until the
		// current commit answers them.
		if err := runningEverywhere(next.Commit); err != nil {
			return err
		}
		start := time.Now()
		if err := abortRollout(ctx, nodes[0]); err != nil {
			return err
		}
		acked := time.Now()
		firstAt, lastAt, err := onEveryNode(nodes, func(n *proc) (time.Time, error) {
			return untilServed(ctx, hc, n, rolloutPage, pin(next.Commit), base)
		})
		if err != nil {
			return fmt.Errorf("abort %d: %w", i+1, err)
		}
		reached["abort"] += len(nodes)
		abort.add(start, acked, firstAt, lastAt)

		// Promote: every node asked, as after a push, with Starbase-Min-Revision of the
		// promote and a pin to the commit it replaces, which must be answered by the new one.
		if err := runningEverywhere(next.Commit); err != nil {
			return err
		}
		start = time.Now()
		res, err := promoteRollout(ctx, nodes[0])
		if err != nil {
			return err
		}
		acked = time.Now()
		firstAt, lastAt, err = onEveryNode(nodes, func(n *proc) (time.Time, error) {
			return servedAt(ctx, hc, n, rolloutPage, res.Revision, pin(base), next.Commit, version)
		})
		if err != nil {
			return fmt.Errorf("promote %d: %w", i+1, err)
		}
		reached["promote"] += len(nodes)
		promote.add(start, acked, firstAt, lastAt)
		base = next.Commit
		if (i+1)%10 == 0 {
			e.logf("%d rollouts aborted and promoted", i+1)
		}
	}
	sec.printf("Three nodes, each `starbase serve --etcd` on a three-member etcd cluster as in section 2, serving the " +
		"benchmark app. Each cycle pushes a new version to another ref, starts a rollout of it through the first node " +
		"and waits until every node serves it to requests pinned to it; aborts it; starts it again; and promotes it. " +
		"*Promote* is timed as a push is in section 2: right after the API acknowledges it, every node is sent a request " +
		"carrying `Starbase-Min-Revision` with the revision the promote reported and pinned to the commit it replaces, " +
		"which the node holds until it has applied that revision and must answer from the promoted commit, with its " +
		"version in the body. *Abort* cannot be timed that way: its answer reports no revision, and a node does not hold " +
		"a request for a revision that only changed the rollout; so every node is sent requests pinned to the rollout's " +
		"commit, one after the other over a kept-alive connection, until one is answered by the current commit (the time " +
		"includes up to one request's round trip). The API call is the abort or promote itself (one store commit with " +
		"its audit record).\n\n")
	sec.printf("| Change | rollouts | every node p50 | p99 | max | first node p50 | API call p50 | API call p99 |\n|---|---|---|---|---|---|---|---|\n")
	for _, row := range []struct {
		label, key string
		m          propagationRun
	}{{"promote (`Starbase-Min-Revision`, as a push)", "promote", promote}, {"abort (polled)", "abort", abort}} {
		p, f, call := durations(row.m.propagation), durations(row.m.first), durations(row.m.push)
		sec.printf("| %s | %d | %s | %s | %s | %s | %s | %s |\n", row.label, len(p), ms(p.quantile(0.5)), ms(p.quantile(0.99)),
			ms(p.max()), ms(f.quantile(0.5)), ms(call.quantile(0.5)), ms(call.quantile(0.99)))
		sec.figure(row.key+" every node p50 s", p.quantile(0.5), false)
		sec.figure(row.key+" every node p99 s", p.quantile(0.99), false)
		sec.figure(row.key+" nodes reached", float64(reached[row.key]), false)
	}
	sec.printf("\n")
	return nil
}
