package appsession_test

import (
	"context"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"go.starlark.net/starlark"

	"github.com/starbase/starbase/appsession"
)

// BenchmarkSession_OpenAndReseal is what a request that reads its session and changes it
// costs the node: the cookie opened (AES-GCM), one value read, one set, the cookie sealed.
func BenchmarkSession_OpenAndReseal(b *testing.B) {
	keys, _ := appsession.NewFixedKeys()
	st := appsession.NewState(context.Background(), keys, httptest.NewRequest("GET", "/", nil), t0)
	run := st.Begin()
	thread := &starlark.Thread{}
	appsession.Bind(thread, run)
	if _, err := starlark.ExecFile(thread, "h.star", `session.set("user", "ada"); session.set("cart", [1, 2, 3])`, appsession.Builtins()); err != nil {
		b.Fatal(err)
	}
	cookie, _ := st.Cookie(run)
	prog := `session.set("n", session.get("user"))`
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest("GET", "/", nil)
		r.AddCookie(cookie)
		st := appsession.NewState(context.Background(), keys, r, t0)
		run := st.Begin()
		thread := &starlark.Thread{}
		appsession.Bind(thread, run)
		if _, err := starlark.ExecFile(thread, "h.star", prog, appsession.Builtins()); err != nil {
			b.Fatal(err)
		}
		if c, err := st.Cookie(run); err != nil || c == nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCheckCSRF_Form is the check of a form POST with its token, before its handler.
func BenchmarkCheckCSRF_Form(b *testing.B) {
	keys, _ := appsession.NewFixedKeys()
	st := appsession.NewState(context.Background(), keys, httptest.NewRequest("GET", "/", nil), t0)
	run := st.Begin()
	tok, _ := run.Token()
	cookie, _ := st.Cookie(run)
	body := url.Values{"name": {"Ada"}, "message": {strings.Repeat("x", 500)}, "csrf_token": {tok}}.Encode()
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest("POST", "/entries", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.AddCookie(cookie)
		if err := appsession.NewState(context.Background(), keys, r, t0).CheckCSRF(r, []byte(body)); err != nil {
			b.Fatal(err)
		}
	}
}
