package main

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/starbase/starbase/bench/apps"
)

// coldStart times `starbase serve` from process start to the first answered app request,
// with an app of e.cfg.coldModules modules already in its store, with and without the
// bytecode cache of its data directory.
func coldStart(ctx context.Context, e *env) (*section, error) {
	sec := newSection()
	n := e.cfg.coldModules
	data, err := e.dir("coldstart")
	if err != nil {
		return nil, err
	}
	node, err := e.startStarbase(ctx, "coldstart", data, "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	res, err := push(ctx, node, apps.Layered(n, 1, 1, 1), "cold start app")
	if err == nil {
		err = waitServing(ctx, node, res.Commit, res.Revision)
	}
	if stopErr := node.stop(); err == nil {
		err = stopErr
	}
	if err != nil {
		return nil, err
	}

	cache := filepath.Join(data, "cache")
	var with, without sample
	var cacheBytes int64
	for range e.cfg.coldRuns {
		for _, cached := range []bool{false, true} {
			if !cached {
				if err := os.RemoveAll(cache); err != nil {
					return nil, err
				}
			}
			d, err := timeStart(ctx, e, data)
			if err != nil {
				return nil, err
			}
			if cached {
				with = append(with, d.Seconds())
			} else {
				without = append(without, d.Seconds())
				if cacheBytes, err = dirSize(cache); err != nil {
					return nil, err
				}
			}
			e.logf("cold start, cache %v: %v", cached, d.Round(time.Millisecond))
		}
	}
	sec.printf("The store holds an app of %d modules (the layered app of the reload benchmark). Each start runs "+
		"`starbase serve` on a fixed port and polls `GET /hello/Ada` every 2 ms from the moment the process is started "+
		"until it is answered with 200: opening the store, reading the %d blobs, compiling them (or reading their "+
		"bytecode from `DATA/cache/`, %s after a start without it) and running every module's top level. Starts without "+
		"the cache remove `DATA/cache/` first; each start with the cache follows one without, which filled it. "+
		"%d starts of each, medians with ranges.\n\n", n, n, mib(float64(cacheBytes)), e.cfg.coldRuns)
	sec.printf("| Start | process start → first answer |\n|---|---|\n")
	sec.printf("| without the bytecode cache | %s |\n| with the bytecode cache | %s |\n\n", without.format(ms), with.format(ms))
	sec.printf("The cache saves %s per start: a start with it takes %s of the time of one without.\n\n",
		ms(without.median()-with.median()), ratio(with.median()/without.median()))
	sec.figure("cold start without cache s", without.median(), false)
	sec.figure("cold start with cache s", with.median(), false)
	return sec, nil
}

// timeStart starts the node of data on a free port and returns the time from starting the
// process to its first 200 answer of the app, then stops it.
func timeStart(ctx context.Context, e *env, data string) (time.Duration, error) {
	addr, err := freeAddr()
	if err != nil {
		return 0, err
	}
	cmd := exec.Command(e.starbin, "serve", "--addr", addr, "--data", data, "--node", "coldstart")
	cmd.Env = append(os.Environ(), "STARBASE_ADMIN_TOKEN="+adminToken)
	start := time.Now()
	p, err := startProc(ctx, "coldstart", cmd, "http://"+addr, "/hello/Ada", nil, startTimeout)
	if err != nil {
		return 0, err
	}
	d := time.Since(start)
	if err := p.stop(); err != nil {
		return 0, err
	}
	if strings.Contains(p.lastLines(), `"level":"ERROR"`) {
		return 0, fmt.Errorf("the node logged an error:\n%s", p.lastLines())
	}
	return d, nil
}

// dirSize returns the total size of the regular files under dir (0 if it does not exist).
func dirSize(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		if d.Type().IsRegular() {
			info, err := d.Info()
			if err != nil {
				return err
			}
			n += info.Size()
		}
		return nil
	})
	return n, err
}
