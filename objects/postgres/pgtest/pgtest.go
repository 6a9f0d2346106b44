// Package pgtest starts a real PostgreSQL server for tests: Debian's (postgresql-15, which
// ./test.sh installs), initialized by initdb in a temporary directory with the C locale,
// listening on a loopback port, run as an unprivileged user when the tests run as root
// (PostgreSQL refuses to run as root). One server serves a whole test binary (start it
// lazily with Shared, stop it from TestMain with Stop); each test gets a database of its
// own (NewDatabase).
package pgtest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver
)

// A Server is a running PostgreSQL.
type Server struct {
	dir  string
	port int
	cmd  *exec.Cmd
	done chan struct{}
	n    atomic.Int64 // databases created
}

var (
	mu     sync.Mutex
	shared *Server
	failed error
)

// Shared returns the test binary's server, starting it on first use; the test fails when
// PostgreSQL cannot be started.
func Shared(t testing.TB) *Server {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	if shared == nil && failed == nil {
		shared, failed = Start()
	}
	if failed != nil {
		t.Fatalf("starting PostgreSQL: %v", failed)
	}
	return shared
}

// Stop stops the shared server, if it was started. Call it from TestMain after m.Run.
func Stop() {
	mu.Lock()
	defer mu.Unlock()
	if shared != nil {
		shared.Stop()
		shared = nil
	}
}

// binDir finds the directory of initdb and postgres: Debian installs them under
// /usr/lib/postgresql/VERSION/bin (the newest is taken), else they must be on PATH.
func binDir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool {
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[i])))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[j])))
		return vi > vj
	})
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "postgres")); err == nil {
			return d, nil
		}
	}
	if p, err := exec.LookPath("postgres"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", errors.New("the PostgreSQL server is not installed: install Debian's postgresql (./test.sh does)")
}

// Options change how Start runs a server.
type Options struct {
	// MaxFileBytes, when positive, is the largest file the server may write (RLIMIT_FSIZE,
	// set by util-linux's prlimit): a write that would grow a file past it writes only what
	// fits, which PostgreSQL reports as a full disk (SQLSTATE 53100, "could not extend
	// file"), as a disk that is really full does. It must exceed a WAL segment (16 MiB),
	// which PostgreSQL cannot run without; 16 MiB plus half a page fills a table at 2,048
	// pages.
	MaxFileBytes int64
}

// Start initializes and starts a new server.
func Start() (*Server, error) { return StartWith(Options{}) }

// StartWith initializes and starts a new server with opts.
func StartWith(opts Options) (*Server, error) {
	bin, err := binDir()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "starbase-pg-")
	if err != nil {
		return nil, err
	}
	cred, err := credential(dir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	data := filepath.Join(dir, "data")
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "--auth=trust",
		"--locale=C", "--encoding=UTF8", "--no-sync")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	s := &Server{dir: dir, port: port, done: make(chan struct{})}
	args := []string{filepath.Join(bin, "postgres"), "-D", data, "-p", strconv.Itoa(port),
		"-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=" + dir,
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "max_connections=300", "-c", "shared_buffers=32MB", "-c", "max_pred_locks_per_transaction=256"}
	if opts.MaxFileBytes > 0 {
		prlimit, err := exec.LookPath("prlimit")
		if err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("a file size limit needs util-linux's prlimit: %w", err)
		}
		// prlimit sets the limit and execs postgres, whose children inherit it.
		args = append([]string{prlimit, "--fsize=" + strconv.FormatInt(opts.MaxFileBytes, 10), "--"}, args...)
	}
	s.cmd = exec.Command(args[0], args[1:]...)
	log, err := os.Create(filepath.Join(dir, "postgres.log"))
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	s.cmd.Stdout, s.cmd.Stderr = log, log
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("starting postgres: %w", err)
	}
	go func() { s.cmd.Wait(); log.Close(); close(s.done) }()

	// Ready when it accepts a connection; it starts in a second or two.
	db, err := sql.Open("pgx", s.url("postgres"))
	if err == nil {
		defer db.Close()
		deadline := time.Now().Add(2 * time.Minute)
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			err = db.PingContext(ctx)
			cancel()
			if err == nil || time.Now().After(deadline) {
				break
			}
			select {
			case <-s.done:
				err = fmt.Errorf("postgres exited: see %s", filepath.Join(dir, "postgres.log"))
			case <-time.After(50 * time.Millisecond):
				continue
			}
			break
		}
	}
	if err == nil {
		_, err = db.Exec("CREATE DATABASE starbase_test")
	}
	if err != nil {
		out, _ := os.ReadFile(filepath.Join(dir, "postgres.log"))
		s.Stop()
		return nil, fmt.Errorf("postgres did not start: %v\n%s", err, out)
	}
	return s, nil
}

// credential returns the user to run PostgreSQL as (nil: the current one, when not root),
// and gives it dir.
func credential(dir string) (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	var u *user.User
	var err error
	for _, name := range []string{"postgres", "nobody"} {
		if u, err = user.Lookup(name); err == nil {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("running as root, PostgreSQL needs an unprivileged user (postgres or nobody): %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(dir, uid, gid); err != nil {
		return nil, err
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func (s *Server) url(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.port, db)
}

// NewDatabase makes an empty database for t and returns its URL: a schema of its own in
// the server's database "starbase_test" (the URL sets search_path; creating a schema is much
// faster than creating a database), dropped when t ends.
func (s *Server) NewDatabase(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("test_%d", s.n.Add(1))
	admin, err := sql.Open("pgx", s.url("starbase_test"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.ExecContext(context.Background(), "CREATE SCHEMA "+name); err != nil {
		admin.Close()
		t.Fatalf("creating schema %s: %v", name, err)
	}
	t.Cleanup(func() {
		defer admin.Close()
		admin.ExecContext(context.Background(), "DROP SCHEMA IF EXISTS "+name+" CASCADE")
	})
	return s.url("starbase_test") + "&search_path=" + name
}

// CreateDatabase is NewDatabase for a database that lives as long as the server (for
// benchmarks, whose data outlives one sub-benchmark).
func (s *Server) CreateDatabase() (string, error) {
	name := fmt.Sprintf("shared_%d", s.n.Add(1))
	admin, err := sql.Open("pgx", s.url("starbase_test"))
	if err != nil {
		return "", err
	}
	defer admin.Close()
	if _, err := admin.ExecContext(context.Background(), "CREATE SCHEMA "+name); err != nil {
		return "", err
	}
	return s.url("starbase_test") + "&search_path=" + name, nil
}

// Stop stops the server and removes its directory.
func (s *Server) Stop() {
	if s.cmd.Process != nil {
		s.cmd.Process.Signal(syscall.SIGINT) // fast shutdown
		select {
		case <-s.done:
		case <-time.After(30 * time.Second):
			s.cmd.Process.Kill()
			<-s.done
		}
	}
	os.RemoveAll(s.dir)
}
