package server_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/starbase/starbase/api"
	"github.com/starbase/starbase/server"
	"github.com/starbase/starbase/server/servertest"
)

func TestRateLimit_FailedAuthenticationsAreLimitedPerSource(t *testing.T) {
	n := startSecNode(t, server.Config{AuthBurst: 3, AuthRefill: time.Hour, RefusalInterval: -1}, false)
	wrong := bearer("sb_" + randomHex(32))
	// Successes cost nothing.
	for i := range 10 {
		if resp := n.do(t, secRequest{method: "GET", path: "/-/api/log", header: bearer(servertest.AdminToken)}); resp.status != 200 {
			t.Fatalf("good request %d = %d %s", i, resp.status, resp.body)
		}
	}
	for i := range 3 {
		if resp := n.do(t, secRequest{method: "GET", path: "/-/api/log", header: wrong}); resp.status != 401 {
			t.Fatalf("failure %d = %d, want 401", i, resp.status)
		}
	}
	before := n.revision(t)
	for _, req := range []secRequest{
		{method: "GET", path: "/-/api/log", header: wrong},
		{method: "GET", path: "/-/api/log", header: bearer(servertest.AdminToken)}, // the good token too, from this source
		{method: "POST", path: "/-/api/login", body: jsonBody(t, api.LoginRequest{Token: servertest.AdminToken})},
	} {
		resp := n.do(t, req)
		if resp.status != http.StatusTooManyRequests {
			t.Fatalf("%s %s after 3 failures = %d %s, want 429", req.method, req.path, resp.status, resp.body)
		}
		retry, err := strconv.Atoi(resp.header.Get("Retry-After"))
		if err != nil || retry < 1 || retry > 3600 {
			t.Errorf("Retry-After = %q, want seconds up to the refill interval", resp.header.Get("Retry-After"))
		}
	}
	if after := n.revision(t); after != before {
		t.Errorf("rate-limited requests wrote to the store (%d -> %d): a guesser must not be able to fill it", before, after)
	}
	// Another source is not limited.
	other := clientFrom("127.0.0.2")
	if resp := n.do(t, secRequest{method: "GET", path: "/-/api/log", header: wrong, client: other}); resp.status != 401 {
		t.Errorf("a wrong token from another source = %d, want 401", resp.status)
	}
	if resp := n.do(t, secRequest{method: "GET", path: "/-/api/log", header: bearer(servertest.AdminToken), client: other}); resp.status != 200 {
		t.Errorf("the good token from another source = %d, want 200", resp.status)
	}
}

func TestRateLimit_FailedLoginsCountAndTheBucketRefills(t *testing.T) {
	n := startSecNode(t, server.Config{AuthBurst: 1, AuthRefill: 200 * time.Millisecond}, false)
	bad := jsonBody(t, api.LoginRequest{Token: "sb_" + randomHex(32)})
	if resp := n.do(t, secRequest{method: "POST", path: "/-/api/login", body: bad}); resp.status != 401 {
		t.Fatalf("wrong login = %d, want 401", resp.status)
	}
	if resp := n.do(t, secRequest{method: "POST", path: "/-/api/login", body: bad}); resp.status != 429 {
		t.Fatalf("second wrong login at once = %d, want 429", resp.status)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp := n.do(t, secRequest{method: "GET", path: "/-/api/log", header: bearer(servertest.AdminToken)})
		if resp.status == 200 {
			break
		}
		if resp.status != 429 || time.Now().After(deadline) {
			t.Fatalf("after the refill interval = %d, want 200 eventually", resp.status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestRateLimit_RefusalsOfWeakRolesCountToo(t *testing.T) {
	n := startSecNode(t, server.Config{AuthBurst: 2, AuthRefill: time.Hour}, false)
	reader, _ := n.token(t, "rita", "reader")
	for i := range 2 {
		if resp := n.do(t, secRequest{method: "GET", path: "/-/api/tokens", header: bearer(reader)}); resp.status != 403 {
			t.Fatalf("refusal %d = %d, want 403", i, resp.status)
		}
	}
	if resp := n.do(t, secRequest{method: "GET", path: "/-/api/tokens", header: bearer(reader)}); resp.status != 429 {
		t.Errorf("a third refusal at once = %d, want 429: an authenticated reader must not write audit records without bound", resp.status)
	}
}

func TestAudit_RefusalsCopyABoundedPartOfTheRequest(t *testing.T) {
	n := startSecNode(t, server.Config{}, false)
	long := "/-/api/tokens/" + strings.Repeat("é", 100_000)
	if resp := n.do(t, secRequest{method: "DELETE", path: long}); resp.status != 401 {
		t.Fatalf("DELETE with a long path = %d", resp.status)
	}
	rec := n.audit(t)[0]
	if len(rec.Path) > 1024 || !strings.HasPrefix(rec.Path, "/-/api/tokens/é") || !utf8.ValidString(rec.Path) || len(rec.Reason) > 1024 {
		t.Errorf("audited path of %d bytes and reason of %d bytes, want at most 1 KiB of valid UTF-8 each", len(rec.Path), len(rec.Reason))
	}
}
