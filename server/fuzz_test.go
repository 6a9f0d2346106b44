package server_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/starbase/starbase/api"
	"github.com/starbase/starbase/runtime"
	"github.com/starbase/starbase/server"
	"github.com/starbase/starbase/server/servertest"
)

// newFuzzServer returns a started server on a real bolt file whose admin token is
// servertest.AdminToken. Fuzz targets call its handler directly (not over its socket), to
// run many inputs a second.
func newFuzzServer(f *testing.F) *server.Server {
	f.Helper()
	return servertest.Start(f, server.Config{
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
		AuthBurst: 1 << 30,
		Limits:    runtime.Limits{MaxSteps: 100_000, Timeout: time.Second, LoadTimeout: time.Second},
	}).Server
}

// serveFuzz runs one request through srv's handler.
func serveFuzz(srv *server.Server, req *http.Request) *httptest.ResponseRecorder {
	req.RemoteAddr = "192.0.2.7:4242"
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, req)
	return rec
}

// fuzzBodyRoutes are the endpoints that decode a request body.
var fuzzBodyRoutes = []struct{ method, path string }{
	{"POST", "/-/api/push"},
	{"POST", "/-/api/revert"},
	{"PUT", "/-/api/refs/main"},
	{"POST", "/-/api/tokens"},
	{"PUT", "/-/api/protected-refs"},
	{"POST", "/-/api/login"},
	{"POST", "/-/api/app-secret/rotate"},
}

// FuzzAPI_RequestBodies sends arbitrary bodies, as an admin, to every endpoint that decodes
// one (the push JSON decode path first): the answer is a success or a 4xx API error, never
// a 5xx, never a panic, never a non-JSON answer.
func FuzzAPI_RequestBodies(f *testing.F) {
	srv := newFuzzServer(f)
	push, _ := json.Marshal(api.PushRequest{Files: map[string][]byte{"app.star": []byte("def handle(req):\n    return 'x'\n")}})
	for i := range fuzzBodyRoutes {
		for _, seed := range []string{"", "{", "null", "[]", "{}", `{"unknown": 1}`, "{} {}", `{"files": {"app.star": "!!"}}`,
			`{"files": {"../x.star": ""}, "force": true}`, `{"commit": "main"}`, `{"commit": "0000"}`, `{"name": "n", "role": "admin"}`,
			`{"refs": ["main", "a//b"]}`, `{"token": "` + servertest.AdminToken + `"}`, `{"expected": 1e999}`, string(push)} {
			f.Add(uint8(i), []byte(seed))
		}
	}
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		rt := fuzzBodyRoutes[int(route)%len(fuzzBodyRoutes)]
		req := httptest.NewRequest(rt.method, rt.path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+servertest.AdminToken)
		rec := serveFuzz(srv, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %s with body %q = %d %s", rt.method, rt.path, body, rec.Code, rec.Body)
		}
		if !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") && rec.Code != http.StatusNoContent {
			t.Fatalf("%s %s answered %d with Content-Type %q", rt.method, rt.path, rec.Code, rec.Header().Get("Content-Type"))
		}
		if rec.Code >= 400 {
			var e api.Error
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error == "" {
				t.Fatalf("%s %s = %d with body %q, not an API error", rt.method, rt.path, rec.Code, rec.Body)
			}
		}
	})
}

// FuzzAPI_SessionCookie sends arbitrary Cookie headers: only the exact cookie of a real
// session, alone under its name, authenticates, and no cookie alone, without the CSRF token, changes anything.
func FuzzAPI_SessionCookie(f *testing.F) {
	srv := newFuzzServer(f)
	login := httptest.NewRequest("POST", "/-/api/login", strings.NewReader(`{"token": "`+servertest.AdminToken+`"}`))
	rec := serveFuzz(srv, login)
	if rec.Code != 200 {
		f.Fatalf("login = %d %s", rec.Code, rec.Body)
	}
	valid := rec.Result().Cookies()[0]
	for _, seed := range []string{valid.String(), "starbase-session=sbs_0", "", "starbase-session=", "a=b; " + valid.String(),
		valid.String() + "; " + valid.String(), "starbase-session=" + strings.ToUpper(valid.Value), "__Host-" + valid.String(),
		"starbase-session=\"" + valid.Value + "\""} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, cookie string) {
		req := httptest.NewRequest("GET", "/-/api/session", nil)
		req.Header.Set("Cookie", cookie)
		got := serveFuzz(srv, req)
		// A session is presented by exactly one cookie of its name: two are refused (one
		// may have been planted by a script).
		var presented string
		if cs := req.CookiesNamed("starbase-session"); len(cs) == 1 {
			presented = cs[0].Value
		}
		switch {
		case got.Code == 200 && presented != valid.Value:
			t.Fatalf("cookie %q authenticated (it presents %q)", cookie, presented)
		case got.Code != 200 && got.Code != 401:
			t.Fatalf("cookie %q = %d %s, want 200 or 401", cookie, got.Code, got.Body)
		case got.Code == 401 && presented == valid.Value:
			t.Fatalf("the valid session in %q was refused: %s", cookie, got.Body)
		}
		change := httptest.NewRequest("PUT", "/-/api/protected-refs", strings.NewReader(`{"refs": ["main"]}`))
		change.Header.Set("Cookie", cookie)
		if got := serveFuzz(srv, change); got.Code < 400 {
			t.Fatalf("cookie %q alone changed a setting: %d", cookie, got.Code)
		}
	})
}
