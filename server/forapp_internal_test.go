package server

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/starbase/starbase/runtime"
)

// FuzzForApp checks, for any Cookie and Authorization headers, that the request stored code
// sees carries no credential of the platform, keeps every cookie of the application as it
// came and in order, and that the original request is left alone.
func FuzzForApp(f *testing.F) {
	f.Add("a=1; starbase-session=sbs_x; b=2", "Bearer secret-token-1")
	f.Add(" STARBASE-SESSION =x ;__Host-starbase-session=y;;c", "")
	f.Add("starbase-session", "basic x")
	f.Add(`theme="dark blue"; __secure-starbase-csrf=1`, "")
	f.Fuzz(func(t *testing.T, cookie, authorization string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header["Cookie"] = []string{cookie, cookie}
		r.Header["Authorization"] = []string{authorization}
		r.Header["authorization"] = []string{authorization}
		r.Header["X-Other"] = []string{"kept"}
		app := forApp(r)
		if r.Header["Cookie"][0] != cookie || len(r.Header["Authorization"]) != 1 {
			t.Fatal("forApp modified the original request")
		}
		for k := range app.Header {
			if isCredentialHeader(k) {
				t.Fatalf("the app sees %s", k)
			}
		}
		if app.Header.Get("X-Other") != "kept" {
			t.Fatal("an unrelated header was lost")
		}
		var want []string
		for pair := range strings.SplitSeq(cookie, ";") {
			pair = strings.TrimSpace(pair)
			name, _, _ := strings.Cut(pair, "=")
			if pair != "" && !runtime.IsPlatformCookie(name) {
				want = append(want, pair)
			}
		}
		got := strings.Join(app.Header.Values("Cookie"), "; ")
		if exp := strings.Join(append(want, want...), "; "); got != exp {
			t.Fatalf("the app sees cookies %q, want %q", got, exp)
		}
		for pair := range strings.SplitSeq(got, ";") {
			name, _, _ := strings.Cut(pair, "=")
			if runtime.IsPlatformCookie(name) {
				t.Fatalf("the app sees the platform cookie %q", pair)
			}
		}
	})
}
