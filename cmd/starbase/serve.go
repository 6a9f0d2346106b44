package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/starbase/starbase/backup"
	"github.com/starbase/starbase/code"
	"github.com/starbase/starbase/examples"
	"github.com/starbase/starbase/gate"
	"github.com/starbase/starbase/runtime"
	"github.com/starbase/starbase/server"
	"github.com/starbase/starbase/store"
	"github.com/starbase/starbase/web"
)

// serveFlags are the flags of `starbase serve`.
type serveFlags struct {
	addr string
	data string
	dev  bool
	// editorAddr, when set, is the address of the editor's own origin (server.Server.Editor).
	editorAddr string
	// demo names the example app (examples.Names) to seed into a store that has none; "" seeds nothing.
	demo string
	// dataURL selects the data tier of app requests (see openDataTier).
	dataURL string
	limits  runtime.Limits
	node    string
	// checkTimeout bounds the validation of one push (gate.Options.Timeout).
	checkTimeout time.Duration
	// checkMemory bounds the memory of the validation of one push (gate.Options.MaxMemory).
	checkMemory runtime.ByteSize
	store       storeFlags
	// tlsCert and tlsKey, when set, make the node serve HTTPS only.
	tlsCert string
	tlsKey  string
	// Connection limits: see server.ConnLimits and server.Config.BodyTimeout.
	headerTimeout     time.Duration
	bodyTimeout       time.Duration
	apiBodyTimeout    time.Duration
	maxConns          int
	maxConnsPerSource int
	// shutdownGrace is how long a stop waits for running requests; 0 means the request
	// timeout plus shutdownMargin.
	shutdownGrace time.Duration
	retention     retentionFlags
	// accessLog is the fraction of requests logged (server.Config.AccessLog).
	accessLog float64
	// maxBody bounds the body of app requests (server.Config.MaxBodyBytes).
	maxBody runtime.ByteSize
	// trustedProxies are the proxies whose X-Forwarded-* headers app requests believe.
	trustedProxies []string
}

func newServeCmd() *cobra.Command {
	f := serveFlags{limits: runtime.DefaultLimits(), maxBody: server.DefaultMaxBodyBytes}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the app stored in the embedded store",
		Long: `Serve runs a Starbase node: it serves the app of main from the store, follows every
change of main without restart, and answers the API the CLI uses under /-/api/.

On first start with no token, STARBASE_ADMIN_TOKEN (if set) becomes the admin token;
otherwise one is generated and written to DATA/admin.token (mode 0600).

App data (the objects of requests) lives apart from the code: by default in SQLite, in
DATA/data.sqlite, created on first start. A cluster's nodes share one PostgreSQL database
with --data-url postgres://USER@HOST:PORT/DB (created with the C collation); --data-url kv
keeps objects in the store itself (bolt, or etcd: the default with --etcd).

With --tls-cert and --tls-key the node serves HTTPS only (TLS 1.2 or later), and session
cookies are Secure. Without them it serves plain HTTP, which is fine on loopback; anywhere
else tokens and session cookies would cross the network in the clear.

With --editor-addr the node also serves the web editor on an origin of its own: /-/ui/ and
the API, never the app. Pages of the app (which developers write) cannot run script there,
so a session made there carries its token's full role: an admin sees the audit log in the
editor's status view. The editor at /-/ui/ of --addr stays, and its sessions act at most
as developers. Give the editor a host name of its own (editor.example.com) where you can:
browsers share cookies between the ports of one host.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return serve(ctx, f, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.addr, "addr", "127.0.0.1:8080", "address to listen on")
	fl.StringVar(&f.editorAddr, "editor-addr", "", "address of the editor's own origin (/-/ui/ and the API, no app), where an admin's web session acts as an admin; off when empty")
	fl.StringVar(&f.data, "data", "./starbase-data", "this node's data directory (store file, caches)")
	fl.StringVar(&f.dataURL, "data-url", "", "where app data (objects) lives: sqlite (default: DATA/data.sqlite), sqlite:PATH, postgres://USER@HOST:PORT/DB (clusters), or kv (in the store; the default with --etcd)")
	fl.BoolVar(&f.dev, "dev", false, "development mode: show tracebacks to clients")
	fl.StringVar(&f.demo, "demo", "", "seed an example app when the store has none: --demo (the guestbook), --demo=erp (an order-to-cash app with sample data) or --demo=demo (a greeting page)")
	fl.Lookup("demo").NoOptDefVal = "guestbook"
	fl.StringVar(&f.node, "node", "", "node name shown in status (default: host name)")
	f.store.register(fl)
	f.retention.register(fl)
	fl.StringVar(&f.tlsCert, "tls-cert", "", "PEM certificate chain file: serve HTTPS (with --tls-key)")
	fl.StringVar(&f.tlsKey, "tls-key", "", "PEM private key file of --tls-cert")
	fl.Float64Var(&f.accessLog, "access-log", 0, "fraction of requests written to the log as access records (request id, route, status, duration, commit): 0 none, 1 all, 0.01 one in a hundred")
	fl.DurationVar(&f.shutdownGrace, "shutdown-grace", 0, "on SIGTERM or SIGINT, how long to wait for running requests before closing their connections (default: --timeout plus 5s)")
	fl.DurationVar(&f.headerTimeout, "header-timeout", server.DefaultHeaderTimeout, "time a client has to send a request's header, from the connection's start or the previous request (0: the default)")
	fl.DurationVar(&f.bodyTimeout, "body-timeout", server.DefaultBodyTimeout, "time a request's body has to arrive, from its header (slower bodies are cut off with 408)")
	fl.DurationVar(&f.apiBodyTimeout, "api-body-timeout", server.DefaultAPIBodyTimeout, "time the body of an authorized API request (a push) has to arrive")
	fl.IntVar(&f.maxConns, "max-conns", server.DefaultMaxConns, "connections open at once; more are refused (503 over plain HTTP)")
	fl.IntVar(&f.maxConnsPerSource, "max-conns-per-source", server.DefaultMaxConnsPerSource, "connections open at once from one source address (IPv6: one /64); more are refused")
	fl.DurationVar(&f.checkTimeout, "check-timeout", gate.DefaultTimeout, "wall time of the validation of one push (loading every module, running every test)")
	f.checkMemory = gate.DefaultMaxMemory
	fl.Var(&f.checkMemory, "check-memory", "memory the module top levels and tests of the validation of one push may allocate together")
	fl.Uint64Var(&f.limits.MaxSteps, "max-steps", f.limits.MaxSteps, "Starlark steps per request and per module load")
	fl.DurationVar(&f.limits.Timeout, "timeout", f.limits.Timeout, "wall time per request")
	fl.DurationVar(&f.limits.LoadTimeout, "load-timeout", f.limits.LoadTimeout, "wall time per module load")
	fl.Var(&f.limits.MaxAllocBytes, "max-alloc", "most memory one Starlark operation may allocate (so the largest string or list stored code can build)")
	fl.Var(&f.limits.MaxHeapBytes, "max-heap", "live heap of this process above which the running request that allocated the most is stopped; negative disables")
	fl.IntVar(&f.limits.MaxCallDepth, "max-depth", f.limits.MaxCallDepth, "nesting of Starlark function calls (recursion) per request")
	fl.Var(&f.limits.MaxResponseBytes, "max-response", "largest response body a handler may return")
	fl.Var(&f.maxBody, "max-body", "largest body of an app request; a larger one is answered 413 before any stored code runs")
	fl.StringSliceVar(&f.trustedProxies, "trusted-proxies", nil, "reverse proxies (IP addresses or CIDR networks, comma-separated) whose X-Forwarded-For, -Proto and -Host app requests believe (req.remote_addr, req.scheme, req.host)")
	fl.IntVar(&f.limits.MaxPrintLines, "max-print-lines", f.limits.MaxPrintLines, "print() lines logged per request; the rest are counted")
	fl.Var(&f.limits.MaxPrintBytes, "max-print-bytes", "print() bytes logged per request; the rest are counted")
	return cmd
}

func serve(ctx context.Context, f serveFlags, stdout, stderr io.Writer) error {
	tlsConfig, err := loadTLS(f.tlsCert, f.tlsKey)
	if err != nil {
		return err
	}
	proxies, err := web.ParseProxies(f.trustedProxies)
	if err != nil {
		return fmt.Errorf("--trusted-proxies: %w", err)
	}
	if f.maxBody <= 0 {
		return fmt.Errorf("--max-body must be positive, got %s", f.maxBody)
	}
	if err := f.retention.check(f.limits.WithDefaults().Timeout); err != nil {
		return err
	}
	if err := os.MkdirAll(f.data, 0o700); err != nil {
		return fmt.Errorf("creating data directory: %w", err)
	}
	logger := slog.New(slog.NewJSONHandler(stderr, nil))
	if gate.Bypassed() {
		logger.Warn("TEST BUILD: the validation gate passes every commit (built with -tags starbasetesthook and STARBASE_TEST_FORCE_GATE=pass); never run this binary in production")
	}
	st, data, closeNode, err := openNode(ctx, &f.store, f.data, f.dataURL, logger)
	if err != nil {
		return err
	}
	defer closeNode()
	if err := backup.Unfinished(ctx, st); err != nil {
		return err
	}

	defer runtime.PaceGC(f.limits.MaxHeapBytes)()
	served := data
	if data.Name() == "kv" {
		// The node makes the kv tier over its own view of the store, so that the writes of
		// app requests count in its store metrics and its full state.
		served = nil
	}
	srv, err := server.New(server.Config{
		Store:          st,
		Data:           served,
		Dev:            f.dev,
		Limits:         f.limits,
		CacheDir:       filepath.Join(f.data, "cache"),
		Node:           f.node,
		Logger:         logger,
		BodyTimeout:    f.bodyTimeout,
		APIBodyTimeout: f.apiBodyTimeout,
		CheckTimeout:   f.checkTimeout,
		CheckMemory:    f.checkMemory,
		MaxBodyBytes:   int64(f.maxBody),
		TrustedProxies: proxies,
		CodeRetention:  f.retention.code,
		DroppedMaxAge:  f.retention.auditMaxAge,
	})
	if err != nil {
		return err
	}
	defer srv.Close()
	if err := bootstrapAdmin(ctx, srv, f.data, stdout); err != nil {
		return err
	}
	if f.demo != "" {
		if err := seedDemo(ctx, srv, f.demo, stdout); err != nil {
			return err
		}
	}
	if err := srv.Start(ctx); err != nil {
		return err
	}
	maintain(ctx, f.retention, st, srv.CollectCode, filepath.Join(f.data, "cache"), logger)

	running := server.NewInflight()
	scheme := "http"
	if tlsConfig != nil {
		scheme = "https"
	}
	listen := func(addr string, h http.Handler) (*http.Server, net.Listener, error) {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, nil, err
		}
		if tlsConfig == nil && !isLoopbackAddr(ln.Addr()) {
			fmt.Fprintf(stderr, "warning: serving plain HTTP on %s: tokens and session cookies cross the network in the clear; use --tls-cert and --tls-key\n", ln.Addr())
		}
		hs, ln := server.Front(ln, h, server.FrontConfig{
			HeaderTimeout: f.headerTimeout,
			TLS:           tlsConfig,
			Conns:         server.ConnLimits{Max: f.maxConns, PerSource: f.maxConnsPerSource, Logger: logger},
			Running:       running,
		})
		return hs, ln, nil
	}
	hs, ln, err := listen(f.addr, srv)
	if err != nil {
		return err
	}
	servers := []*http.Server{hs}
	listeners := []net.Listener{ln}
	if f.editorAddr != "" {
		ehs, eln, err := listen(f.editorAddr, srv.Editor())
		if err != nil {
			ln.Close()
			return fmt.Errorf("--editor-addr: %w", err)
		}
		servers = append(servers, ehs)
		listeners = append(listeners, eln)
		// Printed before the line below, which tells scripts the node is up.
		fmt.Fprintf(stdout, "starbase editor on %s://%s/-/ui/ (sessions there may act as admins)\n", scheme, eln.Addr())
	}
	fmt.Fprintf(stdout, "starbase serving on %s://%s (data in %s)\n", scheme, ln.Addr(), f.data)
	errc := make(chan error, len(servers))
	for i, hs := range servers {
		go func() {
			if tlsConfig != nil {
				errc <- hs.ServeTLS(listeners[i], "", "") // the certificate is in hs.TLSConfig
				return
			}
			errc <- hs.Serve(listeners[i])
		}()
	}
	var failed error
	select {
	case failed = <-errc:
	case <-ctx.Done():
	}
	grace := f.shutdownGrace
	if grace <= 0 {
		grace = f.limits.Timeout + shutdownMargin
	}
	if err := stopServing(servers, running, grace, logger); err != nil {
		return err
	}
	if failed != nil {
		return failed
	}
	for range servers {
		if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
			return err
		}
	}
	return nil
}

// bootstrapAdmin creates the first admin token when the store has none.
func bootstrapAdmin(ctx context.Context, srv *server.Server, dataDir string, stdout io.Writer) error {
	fromEnv := os.Getenv("STARBASE_ADMIN_TOKEN")
	token, created, err := srv.Tokens().Bootstrap(ctx, fromEnv)
	if err != nil || !created {
		return err
	}
	if fromEnv != "" {
		fmt.Fprintln(stdout, "admin token taken from STARBASE_ADMIN_TOKEN")
		return nil
	}
	path := filepath.Join(dataDir, "admin.token")
	if err := os.WriteFile(path, []byte(token+"\n"), 0o600); err != nil {
		return fmt.Errorf("writing the admin token: %w", err)
	}
	fmt.Fprintf(stdout, "admin token written to %s\n", path)
	return nil
}

// seedDemo pushes the example app name when main does not exist yet.
func seedDemo(ctx context.Context, srv *server.Server, name string, stdout io.Writer) error {
	files, err := examples.App(name)
	if err != nil {
		return fmt.Errorf("--demo: %w", err)
	}
	repo := srv.Repo()
	_, _, err = repo.Ref(ctx, code.DefaultBranch)
	if err == nil {
		return nil
	}
	if !errors.Is(err, code.ErrNotFound) {
		return err
	}
	// The example passes the same gate as every other commit.
	if err := gate.Check(ctx, files, gate.Options{Loader: srv.Loader(), App: &server.TestHost{}}); err != nil {
		return fmt.Errorf("the %s example app fails validation: %w", name, err)
	}
	res, err := repo.Push(ctx, code.PushRequest{
		Ref: code.DefaultBranch, Files: files, Author: "starbase", Message: "Example app " + name,
	})
	if errors.Is(err, store.ErrConflict) || errors.Is(err, code.ErrStale) {
		return nil // another node seeded it first
	}
	if err != nil {
		return fmt.Errorf("seeding the demo app: %w", err)
	}
	fmt.Fprintf(stdout, "example app %s seeded as commit %s\n", name, res.Commit)
	return nil
}
