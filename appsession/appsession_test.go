package appsession_test

import (
	"bytes"
	"context"
	"errors"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.starlark.net/starlark"

	"github.com/starbase/starbase/appsession"
	"github.com/starbase/starbase/store"
	"github.com/starbase/starbase/store/bolt"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func openStore(t *testing.T) store.Store {
	t.Helper()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "s.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// handle runs src as a handler would with the session of r at now, and returns the
// Set-Cookie it sends (nil when none) and the value of the global "out".
func handle(t *testing.T, keys appsession.Keyring, r *http.Request, now time.Time, src string) (*http.Cookie, starlark.Value) {
	t.Helper()
	st := appsession.NewState(context.Background(), keys, r, now)
	run := st.Begin()
	thread := &starlark.Thread{Name: "test"}
	appsession.Bind(thread, run)
	globals, err := starlark.ExecFile(thread, "handler.star", src, appsession.Builtins())
	if err != nil {
		t.Fatalf("running %q: %v", src, err)
	}
	c, err := st.Cookie(run)
	if err != nil {
		t.Fatal(err)
	}
	return c, globals["out"]
}

func request(method string, cookie *http.Cookie) *http.Request {
	r := httptest.NewRequest(method, "/", nil)
	if cookie != nil {
		r.AddCookie(cookie)
	}
	return r
}

func TestSession_KeepsValuesAcrossRequests(t *testing.T) {
	keys := appsession.NewKeys(openStore(t))
	c, _ := handle(t, keys, request("GET", nil), t0, `session.set("user", "ada"); session.set("n", [1, 2.5, {"a": None}])`)
	if c == nil || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.MaxAge != int(appsession.MaxAge/time.Second) {
		t.Fatalf("cookie = %+v, want HttpOnly, SameSite=Lax, Path=/, Max-Age of a session", c)
	}
	if strings.Contains(c.Value, "ada") {
		t.Errorf("cookie %q shows the session's data: it must be sealed", c.Value)
	}
	c2, out := handle(t, keys, request("GET", c), t0.Add(time.Hour), `out = (session.get("user"), session.get("n"), session.keys())`)
	if got, want := out.String(), `("ada", [1, 2.5, {"a": None}], ["n", "user"])`; got != want {
		t.Errorf("second request read %s, want %s", got, want)
	}
	if c2 != nil {
		t.Errorf("a request that changed nothing sent a cookie: %v", c2)
	}
}

func TestSession_TamperedOrForgedCookieIsNoSession(t *testing.T) {
	keys := appsession.NewKeys(openStore(t))
	c, _ := handle(t, keys, request("GET", nil), t0, `session.set("user", "ada")`)
	other, _ := appsession.NewFixedKeys()
	forged, _ := handle(t, other, request("GET", nil), t0, `session.set("user", "mallory")`)
	for name, value := range map[string]string{
		"a byte of the ciphertext changed": flip(c.Value, len(c.Value)-5),
		"the key id changed":               flip(c.Value, 4),
		"sealed with another key":          forged.Value,
		"not a session":                    `{"user":"ada"}`,
		"truncated":                        c.Value[:20],
	} {
		t.Run(name, func(t *testing.T) {
			_, out := handle(t, keys, request("GET", &http.Cookie{Name: appsession.CookieName, Value: value}), t0, `out = session.get("user", "nobody")`)
			if out != starlark.String("nobody") {
				t.Errorf("session.get(\"user\") = %v, want no session (\"nobody\")", out)
			}
		})
	}
}

func TestSession_ExpiresByTheRequestClock(t *testing.T) {
	keys := appsession.NewKeys(openStore(t))
	c, _ := handle(t, keys, request("GET", nil), t0, `session.set("user", "ada")`)
	_, out := handle(t, keys, request("GET", c), t0.Add(appsession.MaxAge-time.Second), `out = session.get("user")`)
	if out != starlark.String("ada") {
		t.Errorf("a second before expiry: user = %v, want \"ada\"", out)
	}
	_, out = handle(t, keys, request("GET", c), t0.Add(appsession.MaxAge), `out = session.get("user")`)
	if out != starlark.None {
		t.Errorf("at expiry: user = %v, want None", out)
	}
}

func TestSession_ClearDeletesTheCookie(t *testing.T) {
	keys := appsession.NewKeys(openStore(t))
	c, _ := handle(t, keys, request("GET", nil), t0, `session.set("user", "ada")`)
	del, _ := handle(t, keys, request("GET", c), t0, `session.clear()`)
	if del == nil || del.MaxAge >= 0 {
		t.Fatalf("after clear(): cookie %+v, want a deletion (Max-Age < 0)", del)
	}
}

func TestSession_RefusesWhatACookieCannotHold(t *testing.T) {
	keys, _ := appsession.NewFixedKeys()
	st := appsession.NewState(context.Background(), keys, request("GET", nil), t0)
	thread := &starlark.Thread{}
	appsession.Bind(thread, st.Begin())
	for src, want := range map[string]string{
		`session.set("f", lambda: 1)`:    "not function",
		`session.set("big", "x" * 4000)`: "over the limit",
		`session.set("d", {1: 2})`:       "dict keys must be strings",
	} {
		_, err := starlark.ExecFile(thread, "h.star", src, appsession.Builtins())
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want one saying %q", src, err, want)
		}
	}
	_, err := starlark.ExecFile(&starlark.Thread{}, "h.star", `session.get("x")`, appsession.Builtins())
	if !errors.Is(err, appsession.ErrNoSession) {
		t.Errorf("with no request: %v, want ErrNoSession", err)
	}
}

func TestKeys_RotationKeepsTheOldKeyForItsGrace(t *testing.T) {
	st := openStore(t)
	keys := appsession.NewKeys(st)
	before, _ := handle(t, keys, request("GET", nil), t0, `session.set("user", "ada")`)
	grace := time.Hour
	rotated := t0.Add(time.Minute)
	var audited bool
	key, err := keys.Rotate(context.Background(), rotated, grace, func(k appsession.Key) []store.Op {
		audited = true
		return []store.Op{store.Put("audit/test", []byte(k.ID))}
	})
	if err != nil || !audited {
		t.Fatalf("Rotate: %v (extra ops asked: %v)", err, audited)
	}
	if kv, _, _ := st.Get(context.Background(), "audit/test", 0); kv == nil || string(kv.Value) != key.ID {
		t.Errorf("the extra operation was not committed with the rotation")
	}
	after, _ := handle(t, keys, request("GET", nil), rotated, `session.set("user", "bob")`)
	if !strings.HasPrefix(after.Value, "v1."+key.ID+".") {
		t.Errorf("after rotation the cookie %q is not sealed with the new key %s", after.Value, key.ID)
	}
	_, out := handle(t, keys, request("GET", before), rotated.Add(grace-time.Second), `out = session.get("user")`)
	if out != starlark.String("ada") {
		t.Errorf("within the grace period the old cookie gave user %v, want \"ada\"", out)
	}
	_, out = handle(t, keys, request("GET", before), rotated.Add(grace), `out = session.get("user")`)
	if out != starlark.None {
		t.Errorf("past the grace period the old cookie gave user %v, want None", out)
	}
	// A second rotation past the grace drops the first key from the store.
	if _, err := keys.Rotate(context.Background(), rotated.Add(2*grace), grace, nil); err != nil {
		t.Fatal(err)
	}
	kv, _, _ := st.Get(context.Background(), appsession.KeysKey, 0)
	if n := strings.Count(string(kv.Value), `"id"`); n != 2 {
		t.Errorf("the ring holds %d keys after the first key's grace, want 2: %s", n, kv.Value)
	}
}

// csrfCase builds a request for the CSRF tests.
type csrfCase struct {
	name        string
	method      string
	contentType string
	body        string
	header      string // X-App-CSRF-Token
	cookie      bool   // send the session cookie
	site        string // Sec-Fetch-Site
	origin      string // Origin
	wantRefused bool
}

func TestCheckCSRF_TheRule(t *testing.T) {
	keys, _ := appsession.NewFixedKeys()
	// A session with a token, as a page rendering the form would have made it.
	st := appsession.NewState(context.Background(), keys, request("GET", nil), t0)
	run := st.Begin()
	tok, err := run.Token()
	if err != nil {
		t.Fatal(err)
	}
	cookie, _ := st.Cookie(run)
	otherSt := appsession.NewState(context.Background(), keys, request("GET", nil), t0)
	otherTok, _ := otherSt.Begin().Token()

	form := url.Values{"message": {"hi"}, "csrf_token": {tok}}.Encode()
	var mp bytes.Buffer
	mw := multipart.NewWriter(&mp)
	mw.WriteField("message", "hi")
	mw.WriteField("csrf_token", tok)
	mw.Close()
	formType := "application/x-www-form-urlencoded"
	for _, c := range []csrfCase{
		{name: "GET is not checked", method: "GET", cookie: true},
		{name: "JSON without cookie is not checked", method: "POST", contentType: "application/json", body: `{}`},
		{name: "DELETE without cookie or body is not checked", method: "DELETE"},
		{name: "JSON with the cookie and no token", method: "POST", contentType: "application/json", body: `{}`, cookie: true, wantRefused: true},
		{name: "JSON with the cookie and the header", method: "PUT", contentType: "application/json", body: `{}`, cookie: true, header: tok},
		{name: "form without cookie from a client that is not a browser", method: "POST", contentType: formType, body: form},
		{name: "form without cookie from another site (Sec-Fetch-Site)", method: "POST", contentType: formType, body: form, site: "cross-site", wantRefused: true},
		{name: "form without cookie from a sibling subdomain", method: "POST", contentType: formType, body: form, site: "same-site", wantRefused: true},
		{name: "form without cookie from another origin", method: "POST", contentType: formType, body: form, origin: "https://evil.example", wantRefused: true},
		{name: "form without cookie from the same origin", method: "POST", contentType: formType, body: form, origin: "http://example.com", site: "same-origin"},
		{name: "JSON without cookie from another site", method: "POST", contentType: "application/json", body: "{}", site: "cross-site"},
		{name: "form with the cookie and the field", method: "POST", contentType: formType, body: form, cookie: true},
		{name: "form with the cookie, no field", method: "POST", contentType: formType, body: "message=hi", cookie: true, wantRefused: true},
		{name: "form with another session's token", method: "POST", contentType: formType, body: "csrf_token=" + url.QueryEscape(otherTok), cookie: true, wantRefused: true},
		{name: "form with a token of a flipped byte", method: "POST", contentType: formType, body: "csrf_token=" + url.QueryEscape(flip(tok, len(tok)-10)), cookie: true, wantRefused: true},
		{name: "multipart with the field", method: "POST", contentType: mw.FormDataContentType(), body: mp.String(), cookie: true},
		{name: "text/plain with the cookie", method: "POST", contentType: "text/plain", body: "csrf_token=" + tok, cookie: true, wantRefused: true},
		{name: "PATCH form with the header", method: "PATCH", contentType: formType, body: "a=1", cookie: true, header: tok},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest(c.method, "/entries", strings.NewReader(c.body))
			if c.contentType != "" {
				r.Header.Set("Content-Type", c.contentType)
			}
			if c.header != "" {
				r.Header.Set(appsession.Header, c.header)
			}
			if c.cookie {
				r.AddCookie(cookie)
			}
			if c.site != "" {
				r.Header.Set("Sec-Fetch-Site", c.site)
			}
			if c.origin != "" {
				r.Header.Set("Origin", c.origin)
			}
			err := appsession.NewState(context.Background(), keys, r, t0).CheckCSRF(r, []byte(c.body))
			if refused := errors.Is(err, appsession.ErrCSRF); refused != c.wantRefused {
				t.Errorf("CheckCSRF = %v, want refused %v", err, c.wantRefused)
			}
		})
	}
}

// flip returns s with its byte i changed.
func flip(s string, i int) string {
	b := []byte(s)
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}
