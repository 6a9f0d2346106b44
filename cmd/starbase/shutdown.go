package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/starbase/starbase/server"
)

// shutdownMargin is added to the request timeout to make the default grace period: a request
// that started just before the stop has its whole timeout to finish, plus time to send its
// answer.
const shutdownMargin = 5 * time.Second

// stopServing shuts the servers down (the app's and, with --editor-addr, the editor's): they
// stop accepting connections, wait up to grace for the running requests to finish, then
// close what is left and log each request cut off. A stop is clean (nil) in both cases;
// only a failure to close a listener is an error.
func stopServing(servers []*http.Server, f *server.Inflight, grace time.Duration, logger *slog.Logger) error {
	n := len(f.Snapshot())
	logger.Info("stopping: no new connections; waiting for running requests", "running", n, "grace", grace.String())
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	errs := make(chan error, len(servers))
	for _, hs := range servers {
		go func() { errs <- hs.Shutdown(ctx) }()
	}
	var err error
	for range servers {
		if e := <-errs; e != nil && (err == nil || errors.Is(err, context.DeadlineExceeded)) {
			err = e
		}
	}
	if err == nil {
		logger.Info("stopped: every request finished")
		return nil
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	left := f.Snapshot()
	for _, r := range left {
		logger.Warn("request cut off at the end of the shutdown grace period",
			"method", r.Method, "path", r.Path, "remote", r.Remote, "running", time.Since(r.Start).Round(time.Millisecond).String())
	}
	logger.Warn("stopped with requests running: their connections were closed", "cut_off", len(left), "grace", grace.String())
	for _, hs := range servers {
		hs.Close()
	}
	return nil
}
