package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
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

// window is one load run of the deploy benchmark, with or without pushes.
type window struct {
	load    loadResult
	cpu     time.Duration // the node's CPU time during the window
	harness time.Duration // this process's: the load generator and the pusher
	machine time.Duration // all cores' busy time
	pushes  int
}

// deploys serves a steady load in alternating windows, without pushes then with a new
// version pushed every e.cfg.deployEvery, e.cfg.deployFor of pushes in all, and compares
// the throughput of each pair of adjacent windows.
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
	length := e.cfg.deployFor / time.Duration(e.cfg.deployWindows)
	version := 1
	// run runs one window, pushing every deployEvery if withPushes.
	run := func(withPushes bool) (window, error) {
		var w window
		cpu0, err := cpuTime(node.cmd.Process.Pid)
		if err != nil {
			return w, err
		}
		self0, err := cpuTime(os.Getpid())
		if err != nil {
			return w, err
		}
		machine0, err := machineCPU()
		if err != nil {
			return w, err
		}
		pushCtx, stopPushing := context.WithCancel(ctx)
		var pushErr error
		pushDone := make(chan struct{})
		go func() {
			defer close(pushDone)
			if !withPushes {
				return
			}
			tick := time.NewTicker(e.cfg.deployEvery)
			defer tick.Stop()
			for {
				select {
				case <-pushCtx.Done():
					return
				case <-tick.C:
				}
				// A push is never cut short: one committed but not recorded would be
				// counted as an answer from a commit never pushed.
				version++
				res, err := push(ctx, node, apps.Starlark(version), fmt.Sprintf("version %d", version))
				if err != nil {
					pushErr = err
					return
				}
				pushed.add(res.Commit, version)
				w.pushes++
			}
		}()
		w.load, err = gen.run(ctx, url, length)
		stopPushing()
		<-pushDone
		if err != nil {
			return w, err
		}
		if pushErr != nil {
			return w, fmt.Errorf("pushing during the load: %w", pushErr)
		}
		cpu1, err := cpuTime(node.cmd.Process.Pid)
		if err != nil {
			return w, err
		}
		self1, err := cpuTime(os.Getpid())
		if err != nil {
			return w, err
		}
		machine1, err := machineCPU()
		w.cpu, w.harness, w.machine = cpu1-cpu0, self1-self0, machine1-machine0
		return w, err
	}
	var base, pushing []window
	for range e.cfg.deployWindows {
		for _, withPushes := range []bool{false, true} {
			w, err := run(withPushes)
			if err != nil {
				return nil, err
			}
			e.logf("deploys window, pushes %v: %.0f req/s, %d pushes, %s", withPushes, w.load.RPS(), w.pushes, w.load.failedText())
			if withPushes {
				pushing = append(pushing, w)
			} else {
				base = append(base, w)
			}
		}
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

	var tput, baseRPS, pushRPS, baseP99, pushP99 sample
	var failedBase, failedPush int64
	var pushes int
	var first error
	for i := range base {
		tput = append(tput, pushing[i].load.RPS()/base[i].load.RPS())
		baseRPS, pushRPS = append(baseRPS, base[i].load.RPS()), append(pushRPS, pushing[i].load.RPS())
		baseP99, pushP99 = append(baseP99, secs(base[i].load.P99)), append(pushP99, secs(pushing[i].load.P99))
		failedBase += base[i].load.Failed
		failedPush += pushing[i].load.Failed
		pushes += pushing[i].pushes
		for _, w := range []window{base[i], pushing[i]} {
			if first == nil {
				first = w.load.First
			}
		}
	}

	sec.printf("A steady load (%s, `GET /hello/Ada`) runs in %d pairs of %v windows: one without pushes, then one with a "+
		"new version of the app pushed every %v (through the API, validation gate included; one push at a time, so a slow "+
		"push delays the next), %v of pushes in all. The throughput ratio is computed for each pair of adjacent windows, "+
		"so that the machine's slow moments weigh on both sides. Every answer is checked: status 200, and the version in "+
		"its body must be the version of the commit its `Starbase-Commit` names, as recorded by the pusher.\n\n",
		gen, e.cfg.deployWindows, length, e.cfg.deployEvery, e.cfg.deployFor)
	sec.printf("| Windows | req/s | p99 | failed |\n|---|---|---|---|\n")
	sec.printf("| without pushes | %s | %s | %d |\n", baseRPS.format(count), ms(baseP99.median()), failedBase)
	sec.printf("| with pushes | %s | %s | %d |\n", pushRPS.format(count), ms(pushP99.median()), failedPush)
	if first != nil {
		sec.printf("\nFirst failure: %s\n", first)
	}
	sec.printf("\nPushes: %d (%.1f per second); commits seen in answers: %d; answers mixing revisions: %d; "+
		"answers naming a commit never pushed: %d. Throughput with pushes: %s of the adjacent window without.\n\n",
		pushes, float64(pushes)/e.cfg.deployFor.Seconds(), len(commits), mixed, unknown, tput.format(ratio))
	reportPushCost(sec, base, pushing, tput.median() >= 0.9)

	sec.goal(atMost("failed requests during deploys", float64(failedPush), 0, count))
	sec.goal(atMost("answers mixing revisions", float64(mixed+unknown), 0, count))
	sec.goal(atLeast("throughput during deploys / without", tput.median(), 0.9, ratio3))
	sec.figure("deploys pushes", float64(pushes), false)
	sec.figure("deploys failed", float64(failedBase+failedPush), true)
	sec.figure("deploys mixed", float64(mixed+unknown), true)
	sec.figure("deploys throughput ratio", tput.median(), false)
	return sec, nil
}

// reportPushCost estimates from CPU times what pushes cost: the node's, with the CPU of the
// requests it answered during the pushes counted at the cost per request of the windows
// without, and where the machine's cores went in both kinds of window.
func reportPushCost(sec *section, base, pushing []window, met bool) {
	var b, p window // sums
	for i := range base {
		b.cpu, p.cpu = b.cpu+base[i].cpu, p.cpu+pushing[i].cpu
		b.harness, p.harness = b.harness+base[i].harness, p.harness+pushing[i].harness
		b.machine, p.machine = b.machine+base[i].machine, p.machine+pushing[i].machine
		b.load.Elapsed, p.load.Elapsed = b.load.Elapsed+base[i].load.Elapsed, p.load.Elapsed+pushing[i].load.Elapsed
		b.load.Requests, p.load.Requests = b.load.Requests+base[i].load.Requests, p.load.Requests+pushing[i].load.Requests
		p.pushes += pushing[i].pushes
	}
	if b.load.Requests == 0 || p.pushes == 0 || b.load.Elapsed == 0 || p.load.Elapsed == 0 {
		return
	}
	cores := func(d, over time.Duration) string { return fmt.Sprintf("%.2f", d.Seconds()/over.Seconds()) }
	other := func(w window) time.Duration { return w.machine - w.cpu - w.harness }
	sec.printf("Where the machine's cores went (CPU time from /proc, in cores):\n\n| | without pushes | with pushes |\n|---|---|---|\n")
	sec.printf("| the node | %s | %s |\n", cores(b.cpu, b.load.Elapsed), cores(p.cpu, p.load.Elapsed))
	sec.printf("| the harness (load generator, pusher) | %s | %s |\n", cores(b.harness, b.load.Elapsed), cores(p.harness, p.load.Elapsed))
	sec.printf("| everything else (other processes, kernel threads) | %s | %s |\n", cores(other(b), b.load.Elapsed), cores(other(p), p.load.Elapsed))
	sec.printf("| the whole machine | %s | %s |\n\n", cores(b.machine, b.load.Elapsed), cores(p.machine, p.load.Elapsed))
	perReq := b.cpu.Seconds() / float64(b.load.Requests)
	perPush := (p.cpu.Seconds() - perReq*float64(p.load.Requests)) / float64(p.pushes)
	if perPush < 0 {
		// A difference of two noisy measurements: on a busy machine the requests' cost may
		// vary by more than the pushes cost. Below zero says only that it is within the noise.
		perPush = 0
	}
	rate := float64(p.pushes) / p.load.Elapsed.Seconds()
	sec.printf("The node spent %.1f µs of CPU per request without pushes; counting the requests it answered with "+
		"pushes at that cost leaves about %s of its CPU per push (%.0f%% of a core at %.1f pushes per second; a rough "+
		"estimate, as requests may cost more or less while pushes run). A push decodes the files, runs the validation "+
		"gate (which loads every module of the pushed tree on the node's loader: the changed app.star is compiled and "+
		"run), writes the blobs and then the commit and the ref to bolt (each transaction synced to disk); the switch "+
		"then resolves the app for the new commit and records the node's state in the store.",
		perReq*1e6, ms(perPush), perPush*rate*100, rate)
	if !met {
		sec.printf(" What would meet the goal: pushes that cost the machine less (fewer synced store transactions " +
			"per push, a gate that reuses what it resolved for the modules a push did not change), validation off the " +
			"serving node, or a machine with a core to spare: with two cores, whatever a push costs the node, the " +
			"pusher or the kernel is taken from serving.")
	}
	sec.printf("\n\n")
	sec.figure("deploys node CPU per push s", perPush, true)
}
