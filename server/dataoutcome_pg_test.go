package server_test

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/starbase/starbase/objects/postgres"
	"github.com/starbase/starbase/objects/postgres/pgtest"
	"github.com/starbase/starbase/server"
	"github.com/starbase/starbase/server/servertest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.Stop() // started by the tests that need PostgreSQL
	os.Exit(code)
}

// itemsOnPostgres starts a node whose data tier is the PostgreSQL database at dbURL,
// serving itemsApp with a first item written, and returns it with post, which POSTs to
// path and returns the status, the decoded JSON answer and its text.
func itemsOnPostgres(t *testing.T, dbURL string) (n *servertest.Node, post func(path string) (int, map[string]any, string)) {
	t.Helper()
	data, err := postgres.Open(t.Context(), dbURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { data.Close() })
	n = servertest.Start(t, server.Config{Data: data})
	n.Deploy(t, map[string]string{"app.star": itemsApp})
	post = func(path string) (int, map[string]any, string) {
		req, _ := http.NewRequest("POST", n.URL+path, nil)
		resp, body := n.Do(t, req)
		var got map[string]any
		json.Unmarshal([]byte(body), &got)
		return resp.StatusCode, got, body
	}
	if status, _, body := post("/items/first"); status != http.StatusOK {
		t.Fatalf("first write: %d %s", status, body)
	}
	return n, post
}

// TestDataTier_PostgreSQLConnectionLostDuringCommitAnswersOutcomeUnknown loses the
// connection of an app write in the middle of its COMMIT, on a real PostgreSQL: a deferred
// constraint trigger makes COMMIT wait for an advisory lock the test holds, and the test,
// seeing the backend wait there, terminates it (pg_terminate_backend, as an administrator
// or a failover does). The write answers 503 with the code starbase.outcome_unknown and
// a message saying that it may or may not have been committed: the node cannot tell. The
// node then serves writes and reads as before. Before, it was a 500 "internal error".
func TestDataTier_PostgreSQLConnectionLostDuringCommitAnswersOutcomeUnknown(t *testing.T) {
	dbURL := pgtest.Shared(t).NewDatabase(t)
	n, post := itemsOnPostgres(t, dbURL)

	admin, err := sql.Open("pgx", dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	ctx := t.Context()
	conn, err := admin.Conn(ctx) // one session, which holds the lock
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// 730190417: the advisory lock the test holds while the COMMIT waits for it.
	for _, q := range []string{
		`CREATE FUNCTION starbase_test_hold() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_advisory_xact_lock(730190417); RETURN NULL; END $$`,
		`CREATE CONSTRAINT TRIGGER starbase_test_hold AFTER INSERT OR UPDATE ON starbase_objects
			DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION starbase_test_hold()`,
		`SELECT pg_advisory_lock(730190417)`,
	} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}

	type answer struct {
		status int
		got    map[string]any
		body   string
	}
	answered := make(chan answer, 1)
	go func() {
		status, got, body := post("/items/lost")
		answered <- answer{status, got, body}
	}()
	// The write's COMMIT waits in the trigger for the lock: terminate its backend there.
	deadline := time.Now().Add(60 * time.Second)
	for {
		var terminated bool
		err := conn.QueryRowContext(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
			WHERE datname = current_database() AND pid <> pg_backend_pid() AND wait_event = 'advisory' AND lower(query) LIKE 'commit%'`).Scan(&terminated)
		if err == nil && terminated {
			break
		}
		if err != nil && err != sql.ErrNoRows {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatal("after 60s no backend waits in COMMIT for the lock")
		}
		time.Sleep(10 * time.Millisecond) // polling interval, not a synchronisation
	}
	var a answer
	select {
	case a = <-answered:
	case <-time.After(60 * time.Second):
		t.Fatal("the write whose connection was lost during COMMIT did not answer within 60s")
	}
	if a.status != http.StatusServiceUnavailable || a.got["code"] != "starbase.outcome_unknown" ||
		!strings.Contains(a.body, "may or may not") || !strings.Contains(a.body, "lost during COMMIT") {
		t.Errorf("a write whose connection was lost during COMMIT: %d %s\nwant 503 starbase.outcome_unknown saying it may or may not be committed", a.status, a.body)
	}

	if _, err := conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(730190417)`); err != nil {
		t.Fatal(err)
	}
	if status, _, body := post("/items/after"); status != http.StatusOK {
		t.Errorf("a write after the lost one: %d %s, want 200", status, body)
	}
	// Here the backend died before committing, which the node could not know.
	if code, _, body := n.Get(t, "/items"); code != http.StatusOK || body != `{"n":2}` {
		t.Errorf("the items after: %d %s, want the first and the last", code, body)
	}
}

// TestDataTier_PostgreSQLCommitAppliedButItsAnswerLostAnswersOutcomeUnknown cuts the
// network between the node and a real PostgreSQL once an app write's COMMIT has reached
// the server and the server has answered it: the commit is applied, its answer never
// arrives. The write answers 503 starbase.outcome_unknown, and the item is there: the
// case that makes "may or may not" the only honest answer.
func TestDataTier_PostgreSQLCommitAppliedButItsAnswerLostAnswersOutcomeUnknown(t *testing.T) {
	dbURL := pgtest.Shared(t).NewDatabase(t)
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := startCommitCutter(t, u.Host)
	u.Host = proxy.addr
	n, post := itemsOnPostgres(t, u.String())
	proxy.armed.Store(true)
	status, got, body := post("/items/cut")
	if !proxy.cut.Load() {
		t.Fatalf("no COMMIT was cut; the write answered %d %s", status, body)
	}
	if status != http.StatusServiceUnavailable || got["code"] != "starbase.outcome_unknown" || !strings.Contains(body, "may or may not") {
		t.Errorf("a write whose COMMIT was applied and its answer lost: %d %s\nwant 503 starbase.outcome_unknown saying it may or may not be committed", status, body)
	}
	if code, _, body := n.Get(t, "/items"); code != http.StatusOK || body != `{"n":2}` {
		t.Errorf("the items after: %d %s, want 2: the write whose answer was lost was committed", code, body)
	}
}

// commitCutter is a TCP proxy to PostgreSQL that, once armed, forwards the next COMMIT a
// client sends (a simple-protocol Query), waits for the server's answer, and then closes
// that connection on both sides instead of passing the answer on.
type commitCutter struct {
	addr  string
	armed atomic.Bool // cut the next COMMIT
	cut   atomic.Bool // a COMMIT was cut
}

func startCommitCutter(t *testing.T, target string) *commitCutter {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	p := &commitCutter{addr: ln.Addr().String()}
	go func() {
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			server, err := net.Dial("tcp", target)
			if err != nil {
				client.Close()
				continue
			}
			go p.serve(client, server)
		}
	}()
	return p
}

// serve forwards one connection: the client's messages one by one (a startup message has
// no type byte; every later one has), the server's bytes as they come, except the answer
// of a COMMIT being cut.
func (p *commitCutter) serve(client, server net.Conn) {
	defer client.Close()
	defer server.Close()
	relayed := make(chan struct{}) // closed when the server's side is done
	var cutting atomic.Bool
	go func() {
		defer close(relayed)
		buf := make([]byte, 32<<10)
		for {
			n, err := server.Read(buf)
			if cutting.Load() {
				p.cut.Store(n > 0) // drop the answer, and everything after it
				return
			}
			if n > 0 {
				if _, werr := client.Write(buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				client.Close()
				return
			}
		}
	}()
	r := bufio.NewReader(client)
	started := false
	for {
		var msg []byte
		if !started {
			head := make([]byte, 8)
			if _, err := io.ReadFull(r, head); err != nil {
				return
			}
			body := make([]byte, int(binary.BigEndian.Uint32(head[:4]))-8)
			if _, err := io.ReadFull(r, body); err != nil {
				return
			}
			msg = append(head, body...)
			code := binary.BigEndian.Uint32(head[4:])
			started = code != 80877103 && code != 80877104 // SSLRequest, GSSENCRequest
		} else {
			head := make([]byte, 5)
			if _, err := io.ReadFull(r, head); err != nil {
				return
			}
			body := make([]byte, int(binary.BigEndian.Uint32(head[1:]))-4)
			if _, err := io.ReadFull(r, body); err != nil {
				return
			}
			msg = append(head, body...)
			if head[0] == 'Q' && strings.HasPrefix(strings.ToLower(strings.TrimSpace(string(body))), "commit") && p.armed.CompareAndSwap(true, false) {
				cutting.Store(true)
				if _, err := server.Write(msg); err != nil {
					return
				}
				<-relayed
				return
			}
		}
		if _, err := server.Write(msg); err != nil {
			return
		}
	}
}

// TestDataTier_AFullPostgreSQLDiskAnswers507AndHealthSaysDegraded fills a real PostgreSQL
// whose files may not grow past 16 MiB and half a page (pgtest.Options.MaxFileBytes: the
// write that would grow a table further writes only part of its page, which PostgreSQL
// reports as a full disk, SQLSTATE 53100), through HTTP: the write that finds no room
// answers 507 with the code starbase.store_full, naming the postgres tier, and nothing of
// it written; reads are still served; /-/health and /-/metrics say the data tier is full;
// once the app deleted its items and the operator vacuumed the table (PostgreSQL reuses the
// room of deleted rows after VACUUM), writes are accepted and the node is healthy again.
// Before, a full PostgreSQL disk was a 500 "internal error" and the node stayed "ok".
func TestDataTier_AFullPostgreSQLDiskAnswers507AndHealthSaysDegraded(t *testing.T) {
	pg, err := pgtest.StartWith(pgtest.Options{MaxFileBytes: 16<<20 + 4096})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pg.Stop)
	dbURL := pg.NewDatabase(t)
	n, post := itemsOnPostgres(t, dbURL)

	written := 1 // itemsOnPostgres wrote one
	var status int
	var answer map[string]any
	var body string
	for ; written < 400; written++ {
		if status, answer, body = post(fmt.Sprintf("/items/i%d?kb=100", written)); status != http.StatusOK {
			break
		}
	}
	if status != http.StatusInsufficientStorage || answer["code"] != "starbase.store_full" ||
		!strings.Contains(fmt.Sprint(answer["error"]), "postgres data tier has no room left") {
		t.Fatalf("after %d writes of 100 KB into files of at most 16 MiB: %d %s, want 507 starbase.store_full naming the postgres tier", written, status, body)
	}
	wantDataTierFull(t, n, "postgres", written)

	if status, _, body := post("/clear"); status != http.StatusOK {
		t.Fatalf("deleting the items: %d %s", status, body)
	}
	admin, err := sql.Open("pgx", dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if _, err := admin.ExecContext(t.Context(), "VACUUM starbase_objects"); err != nil {
		t.Fatal(err)
	}
	if status, _, body := post("/items/after?kb=100"); status != http.StatusOK {
		t.Errorf("a write once the items were deleted and the table vacuumed: %d %s, want 200", status, body)
	}
	if code, _, body := n.Get(t, "/-/health"); code != http.StatusOK || body != "ok\n" {
		t.Errorf("/-/health once writes fit again: %d %q, want ok", code, body)
	}
}
