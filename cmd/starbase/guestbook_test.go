package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/starbase/starbase/examples"
)

// The guestbook (examples/guestbook), as `serve --demo` seeds it, end to end through the
// built binary: a gbBrowser signs it, the JSON API sees the entry, the moderator logs in and
// deletes; forged forms and tampered session cookies are refused; the key rotates; the
// README's walkthrough (pull, edit a template, push, see it served) works; and its
// *_test.star tests are what the gate runs on a push.

// gbBrowser is one visitor of the guestbook: a cookie jar, redirects not followed.
type gbBrowser struct {
	t    *testing.T
	base string
	http *http.Client
}

func newGBBrowser(t *testing.T, base string) *gbBrowser {
	jar, _ := cookiejar.New(nil)
	return &gbBrowser{t: t, base: base, http: &http.Client{
		Jar: jar, Timeout: 60 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

func (b *gbBrowser) do(method, path string, form url.Values, header http.Header) (int, http.Header, string) {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.base+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	res, err := b.http.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, string(raw)
}

// page GETs path, which must answer 200, and returns its body and the form's CSRF token.
func (b *gbBrowser) page(path string) (string, string) {
	b.t.Helper()
	status, _, body := b.do("GET", path, nil, nil)
	if status != 200 {
		b.t.Fatalf("GET %s = %d:\n%s", path, status, body)
	}
	m := regexp.MustCompile(`name="csrf_token" value="([^"]+)"`).FindStringSubmatch(body)
	if m == nil {
		b.t.Fatalf("GET %s has no CSRF field:\n%s", path, body)
	}
	return body, m[1]
}

// sessionCookie returns the gbBrowser's session cookie.
func (b *gbBrowser) sessionCookie() *http.Cookie {
	u, _ := url.Parse(b.base)
	for _, c := range b.http.Jar.Cookies(u) {
		if c.Name == "session" {
			return c
		}
	}
	b.t.Fatal("the gbBrowser holds no session cookie")
	return nil
}

type apiEntry struct {
	ID, Name, Message, Created string
}

func apiEntries(t *testing.T, base string) []apiEntry {
	t.Helper()
	res, err := http.Get(base + "/api/entries")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var v struct{ Entries []apiEntry }
	if err := json.NewDecoder(res.Body).Decode(&v); err != nil || res.StatusCode != 200 {
		t.Fatalf("GET /api/entries = %d, %v", res.StatusCode, err)
	}
	return v.Entries
}

func TestE2E_Guestbook(t *testing.T) {
	n := startServe(t, t.TempDir(), "--demo")
	if !strings.Contains(n.cli(t, "log"), "Example app guestbook") {
		t.Fatalf("serve --demo did not seed the guestbook; log: %s", n.cli(t, "log"))
	}
	ada := newGBBrowser(t, n.url)

	// Post an entry through the form, see it listed, with its created-at time.
	page, token := ada.page("/")
	if !strings.Contains(page, "No entries yet") || !strings.Contains(page, `<link rel="stylesheet" href="/static/style.css">`) {
		t.Fatalf("the first page:\n%s", page)
	}
	status, header, body := ada.do("POST", "/entries", url.Values{"name": {"Ada"}, "message": {"Hello, <b>world</b>"}, "csrf_token": {token}}, nil)
	if status != 303 || header.Get("Location") != "/" {
		t.Fatalf("signing = %d %v %s, want 303 to /", status, header, body)
	}
	page, token = ada.page("/")
	year := time.Now().UTC().Format("2006")
	if !strings.Contains(page, "Hello, &lt;b&gt;world&lt;/b&gt;") || !strings.Contains(page, "Thank you for signing, Ada!") ||
		!regexp.MustCompile(`Ada · <time>\d+ \w+ `+year+`, \d\d:\d\d UTC</time>`).MatchString(page) {
		t.Fatalf("the list after signing does not show the entry, escaped, with its time:\n%s", page)
	}

	// The stylesheet and the logo the page links to are served from the store, byte for byte.
	for path, wantType := range map[string]string{"/static/style.css": "text/css", "/static/logo.png": "image/png"} {
		status, header, body := ada.do("GET", path, nil, nil)
		want, err := examples.App("guestbook")
		if err != nil {
			t.Fatal(err)
		}
		if status != 200 || !strings.HasPrefix(header.Get("Content-Type"), wantType) || body != string(want[strings.TrimPrefix(path, "/")]) {
			t.Errorf("GET %s = %d %q (%d bytes), want the file of the example as %s", path, status, header.Get("Content-Type"), len(body), wantType)
		}
	}

	// Validation messages, and nothing written.
	status, _, body = ada.do("POST", "/entries", url.Values{"name": {" "}, "message": {"x"}, "csrf_token": {token}}, nil)
	if status != 422 || !strings.Contains(body, "Please tell us your name.") {
		t.Fatalf("an entry without a name = %d, want 422 with the message:\n%s", status, body)
	}

	// The JSON API returns it, and signs without a cookie or token.
	entries := apiEntries(t, n.url)
	if len(entries) != 1 || entries[0].Name != "Ada" || !strings.HasPrefix(entries[0].Created, year+"-") {
		t.Fatalf("/api/entries = %+v, want Ada's entry with its created time", entries)
	}
	res, err := http.Post(n.url+"/api/entries", "application/json", strings.NewReader(`{"name": "Bot", "message": "beep"}`))
	if err != nil || res.StatusCode != 201 {
		t.Fatalf("POST /api/entries = %v %v, want 201", res, err)
	}
	res.Body.Close()
	if entries = apiEntries(t, n.url); len(entries) != 2 || entries[0].Name != "Bot" {
		t.Fatalf("/api/entries = %+v, want Bot's then Ada's (newest first)", entries)
	}

	// A form POST without a valid CSRF token is refused and writes nothing.
	for name, form := range map[string]url.Values{
		"no token":              {"name": {"Mallory"}, "message": {"forged"}},
		"another session's":     {"name": {"Mallory"}, "message": {"forged"}, "csrf_token": {func() string { _, tok := newGBBrowser(t, n.url).page("/"); return tok }()}},
		"a token with a change": {"name": {"Mallory"}, "message": {"forged"}, "csrf_token": {token[:len(token)-3] + "AAA"}},
	} {
		if status, _, body := ada.do("POST", "/entries", form, nil); status != 403 || !strings.Contains(body, "CSRF") {
			t.Errorf("a form with %s = %d %q, want 403 naming CSRF", name, status, body)
		}
	}
	stranger := newGBBrowser(t, n.url)
	status, _, _ = stranger.do("POST", "/entries", url.Values{"name": {"Mallory"}, "message": {"forged"}}, http.Header{"Sec-Fetch-Site": {"cross-site"}})
	if status != 403 {
		t.Errorf("a cross-site form with no cookie = %d, want 403", status)
	}
	if entries = apiEntries(t, n.url); len(entries) != 2 {
		t.Fatalf("after the forged forms /api/entries has %d entries, want 2: %+v", len(entries), entries)
	}

	// The moderator: the first log in sets the password; then the session is the moderator's.
	mod := newGBBrowser(t, n.url)
	page, token = mod.page("/login")
	if !strings.Contains(page, "Set up the moderator") {
		t.Fatalf("the first /login:\n%s", page)
	}
	if status, _, body := mod.do("POST", "/login", url.Values{"name": {"mod"}, "password": {"correct horse"}, "csrf_token": {token}}, nil); status != 303 {
		t.Fatalf("setting up the moderator = %d:\n%s", status, body)
	}
	other := newGBBrowser(t, n.url)
	_, otherToken := other.page("/login")
	if status, _, body := other.do("POST", "/login", url.Values{"name": {"mod"}, "password": {"wrong password"}, "csrf_token": {otherToken}}, nil); status != 401 || !strings.Contains(body, "Wrong name or password.") {
		t.Fatalf("a wrong password = %d, want 401:\n%s", status, body)
	}
	page, token = mod.page("/")
	if !strings.Contains(page, "mod (moderator)") || !strings.Contains(page, "/entries/"+entries[0].ID+"/delete") {
		t.Fatalf("the moderator's page has no delete buttons:\n%s", page)
	}

	// A tampered session cookie is no session: not the moderator, and cannot delete.
	good := mod.sessionCookie()
	dot := strings.LastIndexByte(good.Value, '.')
	tampered := good.Value[:dot+5] + string("AB"[(good.Value[dot+5]-'A'+1)%2]) + good.Value[dot+6:]
	forged := newGBBrowser(t, n.url)
	u, _ := url.Parse(n.url)
	forged.http.Jar.SetCookies(u, []*http.Cookie{{Name: "session", Value: tampered}})
	status, _, body = forged.do("GET", "/", nil, nil)
	if status != 200 || strings.Contains(body, "(moderator)") {
		t.Fatalf("a tampered session cookie got %d, a moderator's page: %v", status, strings.Contains(body, "(moderator)"))
	}
	status, _, _ = forged.do("POST", "/entries/"+entries[0].ID+"/delete", url.Values{"csrf_token": {token}}, nil)
	if status != 403 {
		t.Errorf("a delete with a tampered session cookie = %d, want 403", status)
	}
	if len(apiEntries(t, n.url)) != 2 {
		t.Fatal("a tampered session cookie deleted an entry")
	}

	// The moderator deletes.
	if status, _, body := mod.do("POST", "/entries/"+entries[0].ID+"/delete", url.Values{"csrf_token": {token}}, nil); status != 303 {
		t.Fatalf("the moderator's delete = %d:\n%s", status, body)
	}
	if entries = apiEntries(t, n.url); len(entries) != 1 || entries[0].Name != "Ada" {
		t.Fatalf("after the delete /api/entries = %+v, want Ada's only", entries)
	}

	// The key rotates (admin, audited); the moderator's session still opens in the grace.
	if out := n.cli(t, "secret", "rotate"); !strings.Contains(out, "new app session key") {
		t.Fatalf("secret rotate printed %q", out)
	}
	if audit := n.cli(t, "audit", "-n", "3"); !strings.Contains(audit, "secret.rotate") {
		t.Fatalf("the audit log has no secret.rotate:\n%s", audit)
	}
	if page, _ := mod.page("/"); !strings.Contains(page, "mod (moderator)") {
		t.Fatal("after a rotation the moderator's session no longer opens")
	}

	// The README's walkthrough: pull, edit a template, push; served with no restart. The
	// push passes the gate, which runs the guestbook's tests.
	dir := filepath.Join(t.TempDir(), "guestbook")
	n.cli(t, "pull", dir)
	index := filepath.Join(dir, "templates", "index.html")
	src, err := os.ReadFile(index)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(index, []byte(strings.Replace(string(src), "<h1>Sign the guestbook</h1>", "<h1>Leave us a note</h1>", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	n.cli(t, "push", dir, "-m", "A friendlier heading")
	deadline := time.Now().Add(30 * time.Second)
	for page, _ = ada.page("/"); !strings.Contains(page, "<h1>Leave us a note</h1>"); page, _ = ada.page("/") {
		if time.Now().After(deadline) {
			t.Fatalf("the pushed template is not served:\n%s", page)
		}
		time.Sleep(20 * time.Millisecond)
	}

	// A change that breaks the guestbook's tests is refused by the gate, naming the test.
	entriesStar := filepath.Join(dir, "lib", "entries.star")
	src, _ = os.ReadFile(entriesStar)
	os.WriteFile(entriesStar, []byte(strings.Replace(string(src), "Please tell us your name.", "Name?", 1)), 0o644)
	_, stderr, err := n.try("push", dir, "-m", "Shorter message")
	if err == nil || !strings.Contains(stderr, "app_test.star") || !strings.Contains(stderr, "test_invalid_entries_are_refused_beside_their_fields_and_kept_in_the_form failed") {
		t.Fatalf("a push breaking the guestbook's tests: err=%v stderr=%s, want the gate to refuse it naming the test", err, stderr)
	}
}
