package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"syscall"
	"time"

	"github.com/starbase/starbase/bench/apps"
	"github.com/starbase/starbase/code"
	"github.com/starbase/starbase/runtime"
	"github.com/starbase/starbase/server"
	"github.com/starbase/starbase/store/bolt"
	"github.com/starbase/starbase/workdir"
)

// The harness runs some servers as child processes of its own program, built by newEnv: it
// runs the program with childEnv set to the mode, and the mode's parameters in the
// environment variables below. A child prints
// childReady + its URL once it serves, and stops on SIGTERM.
const (
	childEnv   = "STARBASE_BENCH_CHILD" // "files", "go", "store" or "etcd"
	childDir   = "STARBASE_BENCH_DIR"   // files: the directory of the app's files; store: the data directory
	childProf  = "STARBASE_BENCH_PROF"  // store: CPU profile file, written between SIGUSR1 and SIGTERM
	childFast  = "STARBASE_BENCH_FAST"  // etcd: set for toy runs (see runEtcd)
	childReady = "bench child serving on "
)

// Child modes:
//
//	files  server.NewStatic over the files of childDir, read once: the no-store baseline
//	go     apps.Go, the plain net/http floor
//	store  a node over a bolt store in childDir with the benchmark app pushed, as
//	       `starbase serve` runs it, profiling its CPU from SIGUSR1 to SIGTERM (the
//	       binary has no profiling endpoint, by design)
//	etcd   a three-member etcd cluster (see runEtcd)
func runChild(mode string) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	logger := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	var (
		h       http.Handler
		cleanup func()
		err     error
	)
	if mode == "files" || mode == "store" {
		// Paced as `starbase serve` paces a node.
		defer runtime.PaceGC(runtime.DefaultLimits().MaxHeapBytes)()
	}
	switch mode {
	case "files":
		h, cleanup, err = filesServer(ctx, logger)
	case "go":
		h, cleanup = apps.Go(1), func() {}
	case "store":
		h, cleanup, err = storeServer(ctx, logger)
	case "etcd":
		err = runEtcd(ctx)
		if err == nil {
			return 0
		}
	default:
		err = fmt.Errorf("unknown %s %q: want files, go, store or etcd", childEnv, mode)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench child:", err)
		return 1
	}
	defer cleanup()
	if err := serveUntilDone(ctx, h, mode != "go"); err != nil {
		fmt.Fprintln(os.Stderr, "bench child:", err)
		return 1
	}
	return 0
}

// serveUntilDone serves h on a free loopback port until ctx ends. A node (node set) is
// served behind the front `starbase serve` puts before one (server.Front: its connection
// limits, timeouts and request tracking), so that (a) the binary and (b) the files child
// differ only in where the code comes from; plain Go is served by a bare http.Server, with
// only a header timeout, as a plain Go program would be.
func serveUntilDone(ctx context.Context, h http.Handler, node bool) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	var hs *http.Server
	if node {
		hs, ln = server.Front(ln, h, server.FrontConfig{Running: server.NewInflight()})
	} else {
		hs = &http.Server{Handler: h, ReadHeaderTimeout: server.DefaultHeaderTimeout}
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	fmt.Printf("%shttp://%s\n", childReady, ln.Addr())
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(shutdown); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func filesServer(ctx context.Context, logger *slog.Logger) (http.Handler, func(), error) {
	files, err := workdir.Read(os.Getenv(childDir))
	if err != nil {
		return nil, nil, err
	}
	srv, err := server.NewStatic(ctx, server.Config{Node: "files", Logger: logger}, files)
	if err != nil {
		return nil, nil, err
	}
	return srv, func() { srv.Close() }, nil
}

func storeServer(ctx context.Context, logger *slog.Logger) (http.Handler, func(), error) {
	data := os.Getenv(childDir)
	st, err := bolt.Open(filepath.Join(data, "starbase.db"), bolt.Options{})
	if err != nil {
		return nil, nil, err
	}
	srv, err := server.New(server.Config{Store: st, Node: "store", CacheDir: filepath.Join(data, "cache"), Logger: logger})
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	closeAll := func() { srv.Close(); st.Close() }
	if _, err := srv.Repo().Push(ctx, code.PushRequest{
		Ref: code.DefaultBranch, Files: apps.Starlark(1), Author: "bench", Message: "benchmark app", Force: true,
	}); err != nil {
		closeAll()
		return nil, nil, err
	}
	if err := srv.Start(ctx); err != nil {
		closeAll()
		return nil, nil, err
	}
	stopProfile, err := profileOnSignal(os.Getenv(childProf))
	if err != nil {
		closeAll()
		return nil, nil, err
	}
	return srv, func() { stopProfile(); closeAll() }, nil
}

// profileOnSignal starts a CPU profile into path when the process receives SIGUSR1. The
// returned function stops it (and writes the file). An empty path profiles nothing.
func profileOnSignal(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	started := make(chan error, 1)
	go func() {
		<-usr1
		err := pprof.StartCPUProfile(f)
		started <- err
		if err == nil {
			fmt.Printf("bench child profiling since pid %s\n", strconv.Itoa(os.Getpid()))
		}
	}()
	return func() {
		signal.Stop(usr1)
		select {
		case err := <-started:
			if err == nil {
				pprof.StopCPUProfile()
			}
		default:
		}
		f.Close()
	}, nil
}
