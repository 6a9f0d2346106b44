package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/starbase/starbase/api"
	"github.com/starbase/starbase/auth"
	"github.com/starbase/starbase/code"
	"github.com/starbase/starbase/gate"
	"github.com/starbase/starbase/store"
	"github.com/starbase/starbase/store/bolt"
)

// Rollouts without HTTP: a real bbolt store, a real node (New, Start) whose ServeHTTP is
// called in-process, its publisher called as the API's handlers call it.

func newRolloutNode(t *testing.T) *Server {
	t.Helper()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "starbase.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	s, err := New(Config{Store: st, Node: "n1", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// versionFiles is an app answering GET / with "vN"; fail makes / answer 500 for one
// request in five (by the request id's last digit, so exactly 20% of a node's requests).
func versionFiles(v int, fail bool) map[string][]byte {
	handler := fmt.Sprintf("def index(req):\n    return \"v%d\"\n", v)
	if fail {
		handler = fmt.Sprintf("def index(req):\n    if int(req.query.get(\"n\", \"1\")) %% 5 == 0:\n        fail(\"broken\")\n    return \"v%d\"\n", v)
	}
	return map[string][]byte{"app.star": []byte(handler + "routes = {\"GET /{$}\": index}\n")}
}

// pushTo commits files on ref as a push past the gate would (the gate runs in the publisher
// tests), and returns the commit.
func pushTo(t *testing.T, s *Server, ref string, files map[string][]byte) code.ID {
	t.Helper()
	res, err := s.repo.Push(context.Background(), code.PushRequest{Ref: ref, Author: "test", Message: "test", Force: true, Files: files})
	if err != nil {
		t.Fatal(err)
	}
	return res.Commit
}

// eventually polls cond until it holds or waitLimit passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, waitLimit)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func serveCommit(s *Server, header http.Header, query string) (*httptest.ResponseRecorder, string) {
	r := httptest.NewRequest("GET", "/"+query, nil)
	for k, v := range header {
		r.Header[k] = v
	}
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	return w, w.Header().Get("Starbase-Commit")
}

func storedRollout(t *testing.T, s *Server) *api.Rollout {
	t.Helper()
	ro, _, err := s.publisher.readRollout(context.Background(), "main")
	if err != nil {
		t.Fatal(err)
	}
	return ro
}

func TestRollout_PublisherStartsAbortsAndPromotesWithAuditRecords(t *testing.T) {
	s := newRolloutNode(t)
	ctx := context.Background()
	ada := developer("ada")
	v1 := pushTo(t, s, "main", versionFiles(1, false))
	v2 := pushTo(t, s, "next", versionFiles(2, false))

	if _, err := s.publisher.startRollout(ctx, ada, api.RolloutRequest{Commit: string(v1), Steps: []int{10}}); !errors.Is(err, errBadRequest) {
		t.Fatalf("rollout of the commit main names = %v, want a bad request", err)
	}
	if _, err := s.publisher.startRollout(ctx, ada, api.RolloutRequest{Commit: string(v2), Steps: []int{10, 5}, Every: time.Minute}); !errors.Is(err, errBadRequest) {
		t.Fatalf("rollout with shrinking steps = %v, want a bad request", err)
	}
	broken := pushTo(t, s, "broken", map[string][]byte{"app.star": []byte("routes = {\"GET /{$}\": 1}\n")})
	var gerr *gate.Error
	if _, err := s.publisher.startRollout(ctx, ada, api.RolloutRequest{Commit: string(broken), Steps: []int{10}}); !errors.As(err, &gerr) {
		t.Fatalf("rollout of a commit the gate refuses = %v, want the gate's error", err)
	}
	if ro := storedRollout(t, s); ro != nil {
		t.Fatalf("a refused rollout was stored: %+v", ro)
	}

	ro, err := s.publisher.startRollout(ctx, ada, api.RolloutRequest{Commit: string(v2)[:12], Steps: []int{1, 10, 100}, Every: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if ro.Commit != string(v2) || ro.Base != string(v1) || ro.State != api.RolloutRunning || ro.By != "ada" || ro.Thresholds.MinRequests != api.DefaultRolloutMinRequests {
		t.Fatalf("started rollout = %+v, want v2 from v1, running, by ada, default thresholds", ro)
	}
	if rec := lastAudit(t, s.publisher); rec.Action != auth.ActionRolloutStart || rec.Commit != string(v2) || rec.Parent != string(v1) || rec.Actor != "ada" {
		t.Fatalf("audit after start = %+v", rec)
	}
	if _, err := s.publisher.startRollout(ctx, ada, api.RolloutRequest{Commit: string(broken), Steps: []int{10}}); !errors.Is(err, errRolloutState) || statusOf(err) != http.StatusConflict {
		t.Fatalf("a second rollout while one runs = %v, want a 409 conflict", err)
	}

	ended, err := s.publisher.abortRollout(ctx, ada, api.RolloutAction{Reason: "looks wrong"})
	if err != nil {
		t.Fatal(err)
	}
	if ended.State != api.RolloutAborted || ended.Reason != "aborted by ada: looks wrong" {
		t.Fatalf("aborted rollout = %+v", ended)
	}
	if got := storedRollout(t, s); got.State != api.RolloutAborted || got.Reason != ended.Reason {
		t.Fatalf("stored after abort = %+v", got)
	}
	if rec := lastAudit(t, s.publisher); rec.Action != auth.ActionRolloutAbort || rec.Reason != ended.Reason {
		t.Fatalf("audit after abort = %+v", rec)
	}
	if _, err := s.publisher.abortRollout(ctx, ada, api.RolloutAction{}); !errors.Is(err, errRolloutState) {
		t.Fatalf("abort with no rollout running = %v, want a conflict", err)
	}
	if _, err := s.publisher.promoteRollout(ctx, ada, api.RolloutAction{}); !errors.Is(err, errRolloutState) {
		t.Fatalf("promote of an aborted rollout = %v, want a conflict", err)
	}

	if _, err := s.publisher.startRollout(ctx, ada, api.RolloutRequest{Commit: string(v2), Steps: []int{50}}); err != nil {
		t.Fatalf("a rollout after an aborted one: %v", err)
	}
	res, err := s.publisher.promoteRollout(ctx, ada, api.RolloutAction{})
	if err != nil {
		t.Fatal(err)
	}
	if main, _, _ := s.repo.Ref(ctx, "main"); main != v2 || res.Commit != string(v2) || res.Parent != string(v1) {
		t.Fatalf("after promote main = %s (result %+v), want %s", main, res, v2)
	}
	if ro := storedRollout(t, s); ro != nil {
		t.Fatalf("promote left the rollout stored: %+v", ro)
	}
	if rec := lastAudit(t, s.publisher); rec.Action != auth.ActionRolloutPromote || rec.Commit != string(v2) || rec.Parent != string(v1) {
		t.Fatalf("audit after promote = %+v", rec)
	}

	// A protected ref's rollout is an admin's, as its pushes are.
	if _, err := auth.NewProtection(s.cfg.Store).Set(ctx, []string{"main"}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.publisher.startRollout(ctx, ada, api.RolloutRequest{Commit: string(v1), Steps: []int{10}}); !errors.Is(err, auth.ErrForbidden) {
		t.Fatalf("a developer's rollout on protected main = %v, want forbidden", err)
	}
}

func TestRollout_NodesSplitRequestsByAffinityAndPin(t *testing.T) {
	s := newRolloutNode(t)
	ctx := context.Background()
	v1 := pushTo(t, s, "main", versionFiles(1, false))
	v2 := pushTo(t, s, "next", versionFiles(2, false))
	v3 := pushTo(t, s, "other", versionFiles(3, false))
	eventually(t, "serving v1", func() bool { _, c := serveCommit(s, nil, ""); return c == string(v1) })

	// Without a rollout, no cookie and no pin does anything.
	if w, c := serveCommit(s, http.Header{PinHeader: {string(v3)}}, ""); c != string(v1) || w.Header().Get("Set-Cookie") != "" {
		t.Fatalf("without a rollout: commit %s, Set-Cookie %q; want v1 and no cookie", c, w.Header().Get("Set-Cookie"))
	}

	if _, err := s.publisher.startRollout(ctx, developer("ada"), api.RolloutRequest{Commit: string(v2), Steps: []int{10}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "holding v2 beside v1", func() bool { return s.releases.candidate.Load().serving() != nil })
	if rel := s.releases.candidate.Load().serving(); rel.commit != v2 || s.releases.current.Load().commit != v1 {
		t.Fatalf("rollout release %s beside %s, want v2 beside v1", rel.commit, s.releases.current.Load().commit)
	}

	// Fresh clients: about 10% go to v2, each answered by its commit, and a cookie is set.
	const n = 4000
	got := map[string]int{}
	var cookies []string
	for i := 0; i < n; i++ {
		w, c := serveCommit(s, nil, "")
		if w.Code != 200 || (c == string(v1)) != (w.Body.String() == "v1") || (c == string(v2)) != (w.Body.String() == "v2") {
			t.Fatalf("request %d: %d %q from %s", i, w.Code, w.Body.String(), c)
		}
		got[c]++
		ck := w.Result().Cookies()
		if len(ck) != 1 || ck[0].Name != AffinityCookie || !ck[0].HttpOnly || ck[0].SameSite != http.SameSiteLaxMode || ck[0].Path != "/" {
			t.Fatalf("request %d set cookies %v, want one HttpOnly SameSite=Lax %s", i, ck, AffinityCookie)
		}
		if i < 200 {
			cookies = append(cookies, ck[0].Name+"="+ck[0].Value)
		}
	}
	if len(got) != 2 || got[string(v2)] < n*7/100 || got[string(v2)] > n*13/100 {
		t.Fatalf("split of %d fresh clients = %v, want 10%% ± 3%% on %s", n, got, v2)
	}

	// A client with its cookie stays on its commit, and gets no new cookie.
	for _, ck := range cookies {
		_, first := serveCommit(s, http.Header{"Cookie": {ck}}, "")
		for range 5 {
			w, c := serveCommit(s, http.Header{"Cookie": {ck}}, "")
			if c != first || w.Header().Get("Set-Cookie") != "" {
				t.Fatalf("cookie %s: commit %s then %s (Set-Cookie %q)", ck, first, c, w.Header().Get("Set-Cookie"))
			}
		}
	}

	// A pin chooses either commit in play; a pin of another commit is ignored.
	for _, want := range []code.ID{v1, v2} {
		for range 20 {
			if _, c := serveCommit(s, http.Header{PinHeader: {string(want)}}, ""); c != string(want) {
				t.Fatalf("pinned to %s, served by %s", want, c)
			}
		}
	}
	for range 50 {
		if _, c := serveCommit(s, http.Header{PinHeader: {string(v3)}}, ""); c != string(v1) && c != string(v2) {
			t.Fatalf("a pin of a commit outside the rollout was served by %s", c)
		}
	}

	// The status names the rollout; the metrics count each commit.
	var n1 api.Node
	s.releases.status(&n1)
	if n1.Rollout == nil || n1.Rollout.Commit != string(v2) || n1.Rollout.Percent != 10 || n1.Rollout.State != api.RolloutRunning {
		t.Fatalf("node status rollout = %+v", n1.Rollout)
	}
	w := httptest.NewRecorder()
	s.ServeHTTP(w, httptest.NewRequest("GET", "/-/metrics", nil))
	for _, c := range []code.ID{v1, v2} {
		if !strings.Contains(w.Body.String(), fmt.Sprintf(`starbase_commit_requests_total{commit=%q}`, c.Short())) {
			t.Fatalf("metrics lack the requests of %s", c.Short())
		}
	}
	if !strings.Contains(w.Body.String(), "starbase_rollout_percent 10") {
		t.Fatalf("metrics lack starbase_rollout_percent 10")
	}

	// Aborted: everyone back on v1, whatever their cookie or pin.
	if _, err := s.publisher.abortRollout(ctx, developer("ada"), api.RolloutAction{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "abort applied", func() bool { return s.releases.candidate.Load().serving() == nil })
	for _, ck := range cookies {
		if _, c := serveCommit(s, http.Header{"Cookie": {ck}, PinHeader: {string(v2)}}, ""); c != string(v1) {
			t.Fatalf("after abort, served by %s, want v1", c)
		}
	}
}

func TestRollout_PercentFollowsTheStoredSchedule(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ro := &api.Rollout{State: api.RolloutRunning, Steps: []int{1, 10, 50, 100}, Every: 5 * time.Minute, Started: start}
	for _, c := range []struct {
		at   time.Duration
		want int
	}{{-time.Hour, 1}, {0, 1}, {4 * time.Minute, 1}, {5 * time.Minute, 10}, {14 * time.Minute, 50}, {15 * time.Minute, 100}, {100 * time.Hour, 100}} {
		if got := ro.Percent(start.Add(c.at)); got != c.want {
			t.Errorf("Percent at start%+v = %d, want %d", c.at, got, c.want)
		}
	}
	ro.State = api.RolloutAborted
	if got := ro.Percent(start.Add(time.Hour)); got != 0 {
		t.Errorf("Percent of an aborted rollout = %d, want 0", got)
	}
}

func TestRollout_JudgeComparesErrorRatesAndP99(t *testing.T) {
	th := api.RolloutThresholds{}.WithDefaults()
	ok := windowSummary{requests: 1000, errors: 10, p99: 20 * time.Millisecond}
	for _, c := range []struct {
		name      string
		cur, cand windowSummary
		want      string // a substring of the verdict, "" for none
	}{
		{"too few requests to judge", ok, windowSummary{requests: 49, errors: 49}, ""},
		{"same error rate", ok, windowSummary{requests: 100, errors: 1, p99: 20 * time.Millisecond}, ""},
		{"4 points more errors", ok, windowSummary{requests: 100, errors: 5, p99: 20 * time.Millisecond}, ""},
		{"20 points more errors", ok, windowSummary{requests: 100, errors: 21, p99: 20 * time.Millisecond}, "error rate 21.0%"},
		{"current has too few requests: judged against 0", windowSummary{requests: 3}, windowSummary{requests: 100, errors: 6}, "error rate 6.0%"},
		{"p99 3x but within the floor", ok, windowSummary{requests: 100, p99: 60 * time.Millisecond}, ""},
		{"p99 10x", ok, windowSummary{requests: 100, p99: 200 * time.Millisecond}, "p99 latency"},
	} {
		got := judge(th, c.cur, c.cand)
		if (c.want == "") != (got == "") || !strings.Contains(got, c.want) {
			t.Errorf("%s: judge = %q, want %q", c.name, got, c.want)
		}
	}
	off := th
	off.MaxP99Ratio = -1
	if got := judge(off, ok, windowSummary{requests: 100, p99: time.Second}); got != "" {
		t.Errorf("latency check disabled, judge = %q", got)
	}
}

func TestRollout_WindowForgetsWhatSlidOut(t *testing.T) {
	w := newCommitWindow("c", time.Minute)
	t0 := time.Unix(1_000_000, 0)
	for i := range 100 {
		status := 200
		if i%10 == 0 {
			status = 500
		}
		w.observe(t0, status, time.Duration(i+1)*time.Millisecond)
	}
	s := w.summary(t0)
	if s.requests != 100 || s.errors != 10 {
		t.Fatalf("summary = %+v, want 100 requests, 10 errors", s)
	}
	// The 99th of 100 latencies is 99ms; buckets are 25% wide.
	if s.p99 < 99*time.Millisecond || s.p99 > 124*time.Millisecond {
		t.Fatalf("p99 = %v, want 99ms within a bucket", s.p99)
	}
	if s := w.summary(t0.Add(30 * time.Second)); s.requests != 100 {
		t.Fatalf("30s later the window has %d requests, want 100", s.requests)
	}
	if s := w.summary(t0.Add(61 * time.Second)); s.requests != 0 {
		t.Fatalf("61s later the window has %d requests, want 0", s.requests)
	}
}

func TestRollout_NodeRollsBackAFailingCommitByItself(t *testing.T) {
	s := newRolloutNode(t)
	ctx := context.Background()
	v1 := pushTo(t, s, "main", versionFiles(1, false))
	bad := pushTo(t, s, "next", versionFiles(2, true))
	eventually(t, "serving v1", func() bool { _, c := serveCommit(s, nil, ""); return c == string(v1) })
	if _, err := s.publisher.startRollout(ctx, developer("ada"), api.RolloutRequest{Commit: string(bad), Steps: []int{50},
		Thresholds: api.RolloutThresholds{MinRequests: 20, MaxP99Ratio: -1}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "holding the rollout's commit", func() bool { return s.releases.candidate.Load().serving() != nil })

	served := map[string]int{}
	for i := 1; ; i++ {
		_, c := serveCommit(s, nil, fmt.Sprintf("?n=%d", i))
		served[c]++
		if c != string(v1) && c != string(bad) {
			t.Fatalf("request %d answered by %q, outside the rollout", i, c)
		}
		if ro := storedRollout(t, s); ro.State == api.RolloutAborted {
			if !strings.Contains(ro.Reason, "rolled back by node n1: error rate") {
				t.Fatalf("rollback reason = %q", ro.Reason)
			}
			break
		}
		if i > 200_000 {
			t.Fatalf("no rollback after %d requests (%v)", i, served)
		}
		if i%100 == 0 {
			time.Sleep(10 * time.Millisecond) // lets the once-a-second judge run on a busy machine
		}
	}
	rec := lastAudit(t, s.publisher)
	if rec.Action != auth.ActionRolloutAbort || rec.Actor != "node n1" || !strings.Contains(rec.Reason, "error rate") {
		t.Fatalf("audit of the rollback = %+v", rec)
	}
	eventually(t, "back on v1 alone", func() bool { return s.releases.candidate.Load().serving() == nil })
	for i := range 50 {
		if _, c := serveCommit(s, nil, fmt.Sprintf("?n=%d", i)); c != string(v1) {
			t.Fatalf("after the rollback served by %s", c)
		}
	}
	var n1 api.Node
	s.releases.status(&n1)
	if n1.Rollout == nil || n1.Rollout.State != api.RolloutAborted || !strings.Contains(n1.Rollout.Reason, "error rate") {
		t.Fatalf("status after rollback = %+v", n1.Rollout)
	}
}

func TestRollout_ACommitThatDoesNotBuildHereIsRolledBack(t *testing.T) {
	s := newRolloutNode(t)
	ctx := context.Background()
	pushTo(t, s, "main", versionFiles(1, false))
	broken := pushTo(t, s, "broken", map[string][]byte{"app.star": []byte("routes = {\"GET /{$}\": 1}\n")})
	// Written as a node would find it (the gate would have refused it through the publisher).
	ro := api.Rollout{Ref: "main", Commit: string(broken), Steps: []int{10}, Started: time.Now(), State: api.RolloutRunning}
	b, _ := json.Marshal(ro)
	if _, err := s.cfg.Store.Commit(ctx, nil, []store.Op{store.Put(rolloutKey("main"), b)}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "rolled back", func() bool {
		ro := storedRollout(t, s)
		return ro != nil && ro.State == api.RolloutAborted
	})
	if got := storedRollout(t, s); !strings.Contains(got.Reason, "does not build") {
		t.Fatalf("reason = %q", got.Reason)
	}
	if rec := lastAudit(t, s.publisher); rec.Action != auth.ActionRolloutAbort || rec.Actor != "node n1" {
		t.Fatalf("audit = %+v", rec)
	}
}

// TestRollout_StartIsRepeatedAfterACollectionRanMeanwhile: a collection of old code that
// runs while a rollout is being started (here: while its gate runs) changes CollectKey,
// which the rollout's store commit compares, so that it never names a commit the collection
// dropped. The start then tries again by itself and succeeds, where it answered 409 "the
// rollout or its ref changed meanwhile" though neither had.
func TestRollout_StartIsRepeatedAfterACollectionRanMeanwhile(t *testing.T) {
	s := newRolloutNode(t)
	ctx := context.Background()
	pushTo(t, s, "main", versionFiles(1, false))
	v2 := pushTo(t, s, "next", versionFiles(2, false))
	gateRuns := 0
	s.publisher.checked = func(time.Duration, error) {
		gateRuns++
		if gateRuns > 1 {
			return
		}
		// What a push that failed after storing its blob leaves, for the collection to sweep.
		orphan := []byte("orphan")
		if _, err := s.cfg.Store.Commit(ctx, nil, []store.Op{store.Put(code.BlobPrefix+string(code.HashBlob(orphan)), orphan)}); err != nil {
			t.Error(err)
		}
		if col, err := s.CollectCode(ctx); err != nil || col.Blobs != 1 {
			t.Errorf("collection during the rollout's gate: %+v %v, want the orphan blob deleted", col, err)
		}
	}
	ro, err := s.publisher.startRollout(ctx, developer("ada"), api.RolloutRequest{Commit: string(v2), Steps: []int{10}})
	if err != nil {
		t.Fatalf("starting a rollout while a collection ran: %v, want it started", err)
	}
	if gateRuns != 2 || ro.Commit != string(v2) {
		t.Errorf("rollout %+v after %d gate runs, want v2 after 2 (the first attempt lost to the collection)", ro, gateRuns)
	}
	if got := storedRollout(t, s); got == nil || got.Commit != string(v2) || got.State != api.RolloutRunning {
		t.Errorf("stored rollout %+v, want v2 running", got)
	}
}
