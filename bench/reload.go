package main

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/starbase/starbase/bench/apps"
)

// reload pushes changes to a Layered app and counts the modules each change re-runs, with
// the time until the node answers on the new commit: a change to a leaf module against a
// change to the module every other module loads.
func reload(ctx context.Context, e *env) (*section, error) {
	sec := newSection()
	n := e.cfg.reloadModules
	data, err := e.dir("reload")
	if err != nil {
		return nil, err
	}
	node, err := e.startStarbase(ctx, "reload", data, "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	defer node.stop()
	hc := &http.Client{Timeout: 30 * time.Second}
	version, leafSeed, coreSeed := 1, 1000, 1000
	res, err := push(ctx, node, apps.Layered(n, version, leafSeed, coreSeed), "layered app")
	if err != nil {
		return nil, err
	}
	if err := waitServing(ctx, node, res.Commit, res.Revision); err != nil {
		return nil, err
	}

	type measures struct{ runs, push, first, build sample }
	kinds := []struct {
		name, label string
		m           measures
	}{
		{name: "leaf", label: "one leaf module (" + apps.LeafPath + ")"},
		{name: "core", label: "core.star, which every module loads"},
	}
	for range e.cfg.reloadReps {
		for k := range kinds {
			version++
			if kinds[k].name == "leaf" {
				leafSeed++
			} else {
				coreSeed++
			}
			before, err := metric(ctx, hc, node, "starbase_module_runs_total")
			if err != nil {
				return nil, err
			}
			start := time.Now()
			res, err := push(ctx, node, apps.Layered(n, version, leafSeed, coreSeed), "change "+kinds[k].name)
			if err != nil {
				return nil, err
			}
			acked := time.Now()
			a, err := get(ctx, hc, node, "/hello/Ada", res.Revision)
			if err != nil {
				return nil, err
			}
			answered := time.Now()
			if err := checkVersion(a, res.Commit, version); err != nil {
				return nil, fmt.Errorf("after changing %s: %w", kinds[k].name, err)
			}
			after, err := metric(ctx, hc, node, "starbase_module_runs_total")
			if err != nil {
				return nil, err
			}
			build, err := node.buildTime(res.Commit)
			if err != nil {
				return nil, err
			}
			m := &kinds[k].m
			m.runs = append(m.runs, after-before)
			m.push = append(m.push, acked.Sub(start).Seconds())
			m.first = append(m.first, answered.Sub(acked).Seconds())
			m.build = append(m.build, build.Seconds())
		}
	}

	sec.printf("An app of %d modules: app.star loads core.star and %d pages; each page loads core.star and about 19 of "+
		"the %d leaves; each leaf loads core.star. Each push changes one module (and the version in app.star), "+
		"alternating between the two kinds below, %d times each. *Modules run* is the increase of "+
		"`starbase_module_runs_total` at `/-/metrics` over the push; the validation gate of the push runs the changed modules "+
		"on the node's own loader, so the release build that follows finds them cached and runs none. *First answer* is the "+
		"time from the push's acknowledgement to the answer of a request on the new commit (held with "+
		"`Starbase-Min-Revision`); *release build* is the node's own measure of building the new release (`build_ms` of its "+
		"\"serving commit\" log line). Medians, with ranges.\n\n",
		n, max(1, n/20), n-2-max(1, n/20), e.cfg.reloadReps)
	sec.printf("| Change | modules run | push (gate + commit) | first answer after ack | release build |\n|---|---|---|---|---|\n")
	for _, k := range kinds {
		sec.printf("| %s | %s | %s | %s | %s |\n", k.label, k.m.runs.format(count), k.m.push.format(ms), k.m.first.format(ms), k.m.build.format(logMS))
		sec.figure(k.name+" modules run", k.m.runs.median(), false)
		sec.figure(k.name+" first answer s", k.m.first.median(), false)
	}
	leafRuns := kinds[0].m.runs.median()
	sec.printf("\nA leaf change re-runs %s modules of %d (the leaf, its page and app.star); a change to core.star re-runs %s.\n\n",
		count(leafRuns), n, count(kinds[1].m.runs.median()))
	sec.goal(atMost("modules re-run by a leaf change (leaf, page, app)", leafRuns, 3, count))
	return sec, nil
}
