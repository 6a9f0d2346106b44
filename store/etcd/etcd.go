package etcd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/starbase/starbase/store"
)

var _ store.Store = (*Store)(nil)

// Defaults of the zero fields of a Config.
const (
	DefaultDialTimeout    = 5 * time.Second
	DefaultRequestTimeout = 5 * time.Second
	// DefaultMaxTxnOps is etcd's default --max-txn-ops.
	DefaultMaxTxnOps = 128
	// DefaultMaxRequestBytes is etcd's default --max-request-bytes (1.5 MiB).
	DefaultMaxRequestBytes = 1536 * 1024
)

// Config tells Open where the cluster is and how to use it.
type Config struct {
	// Endpoints are the client URLs of the cluster's members, for example
	// "http://10.0.0.1:2379" or "https://etcd-1:2379". At least one is required; listing every
	// member lets the store go on when some of them are down.
	Endpoints []string
	// Prefix is put before every key, for example "/starbase/". Stores with different prefixes
	// share the cluster without seeing each other's keys (but share its revisions).
	Prefix string
	// DialTimeout bounds Open's first contact with the cluster; 0 means DefaultDialTimeout.
	DialTimeout time.Duration
	// RequestTimeout bounds each call to the cluster (a read, a commit, ...); past it the call
	// fails with store.ErrUnavailable. 0 means DefaultRequestTimeout.
	RequestTimeout time.Duration
	// TLS, when set, is used to connect to the members (see TLSConfig).
	TLS *tls.Config
	// Username and Password authenticate to a cluster with authentication enabled.
	Username string
	Password string
	// MaxTxnOps is the servers' --max-txn-ops; 0 means DefaultMaxTxnOps.
	MaxTxnOps int
	// MaxRequestBytes is the servers' --max-request-bytes; 0 means DefaultMaxRequestBytes.
	MaxRequestBytes int
}

// Store is a store.Store kept in an etcd cluster. It is safe for concurrent use.
type Store struct {
	cli    *clientv3.Client
	prefix string
	// endpoints names the cluster in error messages.
	endpoints      string
	requestTimeout time.Duration
	limits         store.Limits
	// maxRequestBytes is the servers' request size limit, checked on the encoded size.
	maxRequestBytes int

	// ctx is cancelled by Close; watch goroutines end when it is.
	ctx    context.Context
	cancel context.CancelFunc
	// watchers counts the running watch goroutines, which Close waits for.
	watchers sync.WaitGroup

	// closeOnce makes Close idempotent.
	closeOnce sync.Once
}

// Open connects to the cluster, checks that it answers and checks the format marker under
// the prefix (see FormatVersion), writing it for a new store. It fails with an error
// wrapping store.ErrUnavailable when no member answers within cfg.DialTimeout, and with one
// wrapping store.ErrFormat when the prefix holds a newer format or another program's marker.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if len(cfg.Endpoints) == 0 {
		return nil, errors.New("etcd: no endpoints: give the client URL of at least one etcd member, like http://127.0.0.1:2379")
	}
	if cfg.DialTimeout < 0 || cfg.RequestTimeout < 0 || cfg.MaxTxnOps < 0 || cfg.MaxRequestBytes < 0 {
		return nil, fmt.Errorf("etcd: negative setting in Config (DialTimeout %v, RequestTimeout %v, MaxTxnOps %d, MaxRequestBytes %d): use 0 for the default",
			cfg.DialTimeout, cfg.RequestTimeout, cfg.MaxTxnOps, cfg.MaxRequestBytes)
	}
	dialTimeout := orDefault(cfg.DialTimeout, DefaultDialTimeout)
	maxOps := orDefault(cfg.MaxTxnOps, DefaultMaxTxnOps)
	maxRequestBytes := orDefault(cfg.MaxRequestBytes, DefaultMaxRequestBytes)
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:            cfg.Endpoints,
		DialTimeout:          dialTimeout,
		DialKeepAliveTime:    10 * time.Second,
		DialKeepAliveTimeout: 3 * time.Second,
		TLS:                  cfg.TLS,
		Username:             cfg.Username,
		Password:             cfg.Password,
		Logger:               zap.NewNop(),
		// gRPC's own default (2 MiB) would refuse commits that a server with a larger
		// --max-request-bytes accepts; the margin is etcd's allowance for gRPC framing.
		MaxCallSendMsgSize: maxRequestBytes + 512*1024,
		// Without this, gRPC waits up to two minutes between attempts to reach a member that
		// was down, so a recovered cluster would stay unused for that long.
		DialOptions: []grpc.DialOption{grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 2 * time.Second},
			MinConnectTimeout: dialTimeout,
		})},
	})
	if err != nil {
		return nil, fmt.Errorf("etcd: connect to %s: %w", strings.Join(cfg.Endpoints, ","), err)
	}
	sctx, cancel := context.WithCancel(context.Background())
	s := &Store{
		cli:             cli,
		prefix:          cfg.Prefix,
		endpoints:       strings.Join(cfg.Endpoints, ","),
		requestTimeout:  orDefault(cfg.RequestTimeout, DefaultRequestTimeout),
		limits:          store.Limits{MaxCompares: maxOps, MaxOps: maxOps, MaxBytes: maxRequestBytes * 2 / 3},
		maxRequestBytes: maxRequestBytes,
		ctx:             sctx,
		cancel:          cancel,
	}
	pctx, stop := context.WithTimeout(ctx, dialTimeout)
	defer stop()
	if _, err := s.cli.Get(pctx, s.probeKey(), clientv3.WithCountOnly()); err != nil {
		err = s.mapErrAfter(ctx, err, dialTimeout)
		s.Close()
		return nil, fmt.Errorf("etcd: open: %w", err)
	}
	if err := s.checkFormat(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// Limits reports the size a commit may reach: MaxTxnOps compares and MaxTxnOps operations
// (etcd bounds each list of a transaction, not their sum; the failure branch holds one read
// per compare, so it is bounded with the compares), and two thirds of MaxRequestBytes of keys
// and values (the rest leaves room for the prefix and the encoding).
func (s *Store) Limits() store.Limits { return s.limits }

// Revision returns the cluster's current revision.
func (s *Store) Revision(ctx context.Context) (int64, error) {
	if err := s.checkOpen(); err != nil {
		return 0, err
	}
	cctx, cancel := s.callContext(ctx)
	defer cancel()
	resp, err := s.cli.Get(cctx, s.probeKey(), clientv3.WithCountOnly())
	if err != nil {
		return 0, fmt.Errorf("etcd: revision: %w", s.mapErr(ctx, err))
	}
	return resp.Header.Revision, nil
}

// probeKey is a key inside the prefix that a count-only read uses to learn the revision
// (etcd refuses empty keys; a key under the prefix keeps to the prefix's permissions).
func (s *Store) probeKey() string { return s.prefix + "\x00" }

// Compact discards the history below rev in the whole cluster (etcd revisions are global)
// and returns once the old revisions are gone. Compacting at or below an earlier compaction
// point does nothing; rev after the current revision fails with store.ErrFutureRevision.
func (s *Store) Compact(ctx context.Context, rev int64) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	if rev <= 0 {
		return nil
	}
	cctx, cancel := s.callContext(ctx)
	defer cancel()
	_, err := s.cli.Compact(cctx, rev, clientv3.WithCompactPhysical())
	if errors.Is(err, rpctypes.ErrCompacted) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("etcd: compact at revision %d: %w", rev, s.mapErr(ctx, err))
	}
	return nil
}

// Close ends the watches, waits for their goroutines and closes the connection. Operations
// after Close fail with store.ErrClosed; a second Close returns nil.
func (s *Store) Close() error {
	var err error
	s.closeOnce.Do(func() {
		s.cancel()
		s.watchers.Wait()
		if cerr := s.cli.Close(); cerr != nil && !errors.Is(cerr, context.Canceled) {
			err = fmt.Errorf("etcd: close: %w", cerr)
		}
	})
	return err
}

func (s *Store) checkOpen() error {
	if s.ctx.Err() != nil {
		return fmt.Errorf("etcd: %w", store.ErrClosed)
	}
	return nil
}

// callContext bounds one call to the cluster by the request timeout.
func (s *Store) callContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.requestTimeout)
}

// mapErr turns an error of a call made under ctx (the caller's context, before callContext)
// into the store's errors: ErrClosed, the caller's own context error, ErrCompacted,
// ErrFutureRevision, ErrTooLarge, ErrUnavailable, or the error itself.
func (s *Store) mapErr(ctx context.Context, err error) error {
	return s.mapErrAfter(ctx, err, s.requestTimeout)
}

// mapErrAfter is mapErr for a call bounded by timeout.
func (s *Store) mapErrAfter(ctx context.Context, err error, timeout time.Duration) error {
	switch {
	case s.ctx.Err() != nil:
		return store.ErrClosed
	case ctx.Err() != nil:
		return ctx.Err()
	case errors.Is(err, rpctypes.ErrCompacted):
		return store.ErrCompacted
	case errors.Is(err, rpctypes.ErrFutureRev):
		return store.ErrFutureRevision
	case errors.Is(err, rpctypes.ErrNoSpace) || strings.Contains(err.Error(), "database space exceeded"):
		return fmt.Errorf("%w: etcd at %s: %v: its space quota (--quota-backend-bytes) is reached; compact and defragment it and disarm the NOSPACE alarm (etcdctl alarm disarm), or raise the quota",
			store.ErrFull, s.endpoints, err)
	case errors.Is(err, rpctypes.ErrTooManyOps), errors.Is(err, rpctypes.ErrRequestTooLarge):
		return fmt.Errorf("%w: the etcd cluster refused it (%v): its --max-txn-ops or --max-request-bytes is below this store's Config", store.ErrTooLarge, err)
	case errors.Is(err, context.DeadlineExceeded):
		// The caller's context is live, so the deadline was the request timeout.
		return fmt.Errorf("%w: no answer from etcd at %s within %v", store.ErrUnavailable, s.endpoints, timeout)
	case isUnavailable(err):
		return fmt.Errorf("%w: etcd at %s: %v", store.ErrUnavailable, s.endpoints, err)
	}
	return err
}

// isUnavailable reports whether err says the cluster cannot serve now but may later: no
// connection, no leader, a timeout inside etcd, a stopping member.
func isUnavailable(err error) bool {
	var etcdErr rpctypes.EtcdError
	if errors.As(err, &etcdErr) {
		return etcdErr.Code() == codes.Unavailable
	}
	if st, ok := status.FromError(err); ok {
		return st.Code() == codes.Unavailable || st.Code() == codes.DeadlineExceeded
	}
	return false
}
