package ui

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"go.starlark.net/starlark"

	"github.com/starbase/starbase/runtime"
	"github.com/starbase/starbase/sandbox"
)

func get(t *testing.T, method, path string) *httptest.ResponseRecorder {
	t.Helper()
	w := httptest.NewRecorder()
	ServeHTTP(w, httptest.NewRequest(method, path, nil))
	return w
}

func TestServeHTTP_PageHasAFreshNonceAndEveryAnswerAStrictPolicy(t *testing.T) {
	nonceRe := regexp.MustCompile(`nonce="([A-Za-z0-9+/=]+)"`)
	var seen []string
	for range 2 {
		w := get(t, "GET", "/-/ui/")
		body := w.Body.String()
		m := nonceRe.FindStringSubmatch(body)
		if w.Code != 200 || m == nil || strings.Contains(body, noncePlaceholder) {
			t.Fatalf("GET /-/ui/ = %d, want the page with its nonce:\n%s", w.Code, body)
		}
		csp := w.Header().Get("Content-Security-Policy")
		if csp != pageCSP(m[1]) || !strings.Contains(csp, "script-src 'self' 'nonce-"+m[1]+"'") || strings.Contains(csp, "unsafe") {
			t.Fatalf("page CSP = %q, want the strict policy with nonce %s", csp, m[1])
		}
		if cc := w.Header().Get("Cache-Control"); cc != "no-store" {
			t.Errorf("page Cache-Control = %q, want no-store (its nonce is new on every load)", cc)
		}
		seen = append(seen, m[1])
	}
	if seen[0] == seen[1] {
		t.Fatal("two loads of the page got the same nonce")
	}
	if strings.Contains(get(t, "GET", "/-/ui/").Body.String(), "<script>") {
		t.Fatal("the page has an inline script")
	}

	for path, want := range map[string]string{"/-/ui/editor.js": "javascript", "/-/ui/editor.css": "text/css", "/-/ui/predeclared.json": "application/json"} {
		w := get(t, "GET", path)
		if w.Code != 200 || !strings.Contains(w.Header().Get("Content-Type"), want) || w.Header().Get("Content-Security-Policy") != CSP || w.Header().Get("ETag") == "" {
			t.Errorf("GET %s = %d %v, want %s with the policy and an ETag", path, w.Code, w.Header(), want)
		}
	}
	if w := get(t, "GET", "/-/ui/nope.js"); w.Code != 404 || w.Header().Get("Content-Security-Policy") != CSP {
		t.Errorf("GET of an unknown file = %d, want 404 with the policy", w.Code)
	}
	if w := get(t, "POST", "/-/ui/"); w.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST /-/ui/ = %d, want 405", w.Code)
	}
	if w := get(t, "GET", "/-/ui"); w.Code != http.StatusMovedPermanently || w.Header().Get("Location") != Prefix {
		t.Errorf("GET /-/ui = %d to %q, want a redirect to %s", w.Code, w.Header().Get("Location"), Prefix)
	}
}

func TestPredeclared_ListsExactlyTheNamesOfTheSandbox(t *testing.T) {
	var got []Name
	if err := json.Unmarshal(get(t, "GET", "/-/ui/predeclared.json").Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, d := range []starlark.StringDict{starlark.Universe, runtime.Builtins(), sandbox.Predeclared()} {
		for k := range d {
			want[k] = true
		}
	}
	byName := map[string]Name{}
	for _, n := range got {
		if !want[n.Name] {
			t.Errorf("completion offers %q, which stored code cannot use", n.Name)
		}
		byName[n.Name] = n
	}
	for k := range want {
		if _, ok := byName[k]; !ok {
			t.Errorf("completion lacks the predeclared name %q", k)
		}
	}
	if n := byName["json"]; n.Kind != "module" || !strings.Contains(strings.Join(n.Members, ","), "encode") {
		t.Errorf("json = %+v, want a module with encode", n)
	}
	if n := byName["len"]; n.Kind != "function" {
		t.Errorf("len = %+v, want a function", n)
	}
}
