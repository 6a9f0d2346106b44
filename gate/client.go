package gate

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"

	"go.starlark.net/lib/json"
	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"

	"github.com/starbase/starbase/objects"
	"github.com/starbase/starbase/objects/sqlite"
	"github.com/starbase/starbase/runtime"
)

// The test client: test modules call the tree's app as a browser or an API client would.
//
//	c = client()                      a client with its own cookies (a browser)
//	r = c.get("/entries", query = {"page": "2"}, headers = {...})
//	r = c.post("/entries", form = {"name": "Ada"})      also json = ..., body = "..."
//	c.put, c.patch, c.delete, c.request("OPTIONS", "/x")
//	r.status, r.headers (lower-case names), r.body, r.json (None unless the body is JSON)
//	c.csrf_token()                    a valid CSRF token of c's session (made if none)
//	c.cookies                         the client's cookies, name -> value
//
// Requests go to the app built from the tree under check, served as a node serves it (the
// AppHost: the server's own routing and request code, not a copy). Each test function
// gets a fresh, empty, in-memory data tier (SQLite), made on the test's first request and
// dropped when the test ends: every client of one test shares it, and no test sees
// another's data. Redirects are not followed (a test checks r.headers["location"]). Time in
// the app's handlers is TestClock, as in the test itself.

// AppHost serves the app of a tree under check to its tests. Run opens it once per check,
// on a test's first request, and closes it when the check ends. server.TestHost is the
// host of the server and of `starbase check`.
type AppHost interface {
	// Open builds the app of snap as a node builds it. It returns a *Error's problems as
	// the check reports them, or the error that kept it from being built.
	Open(ctx context.Context, snap *runtime.Snapshot) (TestApp, error)
}

// TestApp is the app of one tree under check.
type TestApp interface {
	// Handler returns the handler that serves the app, over data, as a node does.
	Handler(data objects.Engine) http.Handler
	// CSRFToken returns a valid CSRF token of the session whose cookie (the appsession
	// cookie's value, "" for none) a client holds, and the cookie value the client must
	// hold from then on.
	CSRFToken(ctx context.Context, cookie string) (token, newCookie string, err error)
	Close() error
}

// testRun is what the client builtins of one test share: the check's app and the test's
// data tier, each made on first use.
type testRun struct {
	c    *checker
	data objects.Engine
}

const testRunKey = "starbase.gate.test"

// close drops the test's data.
func (tr *testRun) close() {
	if tr.data != nil {
		tr.data.Close()
	}
}

// handler returns the app's handler over the test's data, opening either on first use.
func (tr *testRun) handler(ctx context.Context) (TestApp, http.Handler, error) {
	app, err := tr.c.testApp(ctx)
	if err != nil {
		return nil, nil, err
	}
	if tr.data == nil {
		if tr.data, err = sqlite.OpenMemory(ctx, slog.New(slog.DiscardHandler)); err != nil {
			return nil, nil, fmt.Errorf("client: the test's data tier: %w", err)
		}
	}
	return app, app.Handler(tr.data), nil
}

// testApp opens the check's app on first use.
func (c *checker) testApp(ctx context.Context) (TestApp, error) {
	if c.app != nil || c.appErr != nil {
		return c.app, c.appErr
	}
	if c.opts.App == nil {
		c.appErr = fmt.Errorf("client: this check serves no app to tests (gate.Options.App is nil)")
		return nil, c.appErr
	}
	c.app, c.appErr = c.opts.App.Open(ctx, c.snap)
	if c.appErr != nil {
		c.appErr = fmt.Errorf("client: the app does not build: %w", c.appErr)
	}
	return c.app, c.appErr
}

// clientBuiltin is the predeclared client().
var clientBuiltin = starlark.NewBuiltin("client", func(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if err := starlark.UnpackArgs(b.Name(), args, kwargs); err != nil {
		return nil, err
	}
	if _, ok := thread.Local(testRunKey).(*testRun); !ok {
		return nil, fmt.Errorf("client: the test client works only in a test function (test_*), not at a module's top level")
	}
	return &client{cookies: map[string]string{}}, nil
})

// client is a test client: a browser with its own cookies. It is used by one test's thread.
type client struct {
	cookies map[string]string
	frozen  bool
}

var (
	_             starlark.HasAttrs = (*client)(nil)
	clientMethods                   = []string{"csrf_token", "delete", "get", "patch", "post", "put", "request"}
)

func (c *client) String() string        { return "<client>" }
func (c *client) Type() string          { return "client" }
func (c *client) Freeze()               { c.frozen = true }
func (c *client) Truth() starlark.Bool  { return true }
func (c *client) Hash() (uint32, error) { return 0, fmt.Errorf("unhashable type: client") }
func (c *client) AttrNames() []string   { return append([]string{"cookies"}, clientMethods...) }

func (c *client) Attr(name string) (starlark.Value, error) {
	switch name {
	case "cookies":
		d := starlark.NewDict(len(c.cookies))
		for k, v := range c.cookies {
			_ = d.SetKey(starlark.String(k), starlark.String(v))
		}
		return d, nil
	case "csrf_token":
		return starlark.NewBuiltin("client.csrf_token", c.csrfToken), nil
	case "request":
		return starlark.NewBuiltin("client.request", func(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			if len(args) == 0 {
				return nil, fmt.Errorf("%s: missing the method (\"GET\", \"POST\", ...)", b.Name())
			}
			method, ok := starlark.AsString(args[0])
			if !ok {
				return nil, fmt.Errorf("%s: the method must be a string, not %s", b.Name(), args[0].Type())
			}
			method = strings.ToUpper(method)
			if method == "" || strings.Trim(method, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != "" {
				return nil, fmt.Errorf("%s: the method %q is not an HTTP method (letters: \"GET\", \"PUT\", \"OPTIONS\"...)", b.Name(), method)
			}
			return c.do(thread, b, method, args[1:], kwargs)
		}), nil
	}
	for _, m := range []string{"get", "post", "put", "patch", "delete"} {
		if name == m {
			method := strings.ToUpper(m)
			return starlark.NewBuiltin("client."+m, func(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
				return c.do(thread, b, method, args, kwargs)
			}), nil
		}
	}
	return nil, nil
}

func (c *client) csrfToken(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if err := starlark.UnpackArgs(b.Name(), args, kwargs); err != nil {
		return nil, err
	}
	tr, ok := thread.Local(testRunKey).(*testRun)
	if !ok {
		return nil, fmt.Errorf("%s: only in a test function", b.Name())
	}
	ctx := runtime.ThreadContext(thread)
	app, _, err := tr.handler(ctx)
	if err != nil {
		return nil, err
	}
	tok, cookie, err := app.CSRFToken(ctx, c.cookies[sessionCookie])
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.Name(), err)
	}
	c.cookies[sessionCookie] = cookie
	return starlark.String(tok), nil
}

// sessionCookie is the name of the app session cookie (appsession.CookieName).
const sessionCookie = "session"

// maxClientBody bounds the body of a test client's request.
const maxClientBody = 1 << 20

// do sends one request: path, then query, headers, form, json or body.
func (c *client) do(thread *starlark.Thread, b *starlark.Builtin, method string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var (
		path                 string
		query, headers, form *starlark.Dict
		jsonValue, bodyValue starlark.Value
	)
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "path", &path, "query?", &query, "headers?", &headers,
		"form?", &form, "json?", &jsonValue, "body?", &bodyValue); err != nil {
		return nil, err
	}
	if !strings.HasPrefix(path, "/") {
		return nil, fmt.Errorf("%s: the path %q must start with /", b.Name(), path)
	}
	tr, ok := thread.Local(testRunKey).(*testRun)
	if !ok {
		return nil, fmt.Errorf("%s: only in a test function", b.Name())
	}
	u, err := url.Parse("http://app.test" + path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.Name(), err)
	}
	// url.Parse keeps a query as written; a space would end the request line (and make
	// httptest panic), so it is sent escaped, as a browser sends it.
	u.RawQuery = strings.ReplaceAll(u.RawQuery, " ", "%20")
	if query != nil {
		q := u.Query()
		if err := addPairs(q, query); err != nil {
			return nil, fmt.Errorf("%s: query: %w", b.Name(), err)
		}
		u.RawQuery = q.Encode()
	}
	var body, contentType string
	given := 0
	if form != nil {
		given++
		f := url.Values{}
		if err := addPairs(f, form); err != nil {
			return nil, fmt.Errorf("%s: form: %w", b.Name(), err)
		}
		body, contentType = f.Encode(), "application/x-www-form-urlencoded"
	}
	if jsonValue != nil {
		given++
		enc, err := starlark.Call(thread, json.Module.Members["encode"], starlark.Tuple{jsonValue}, nil)
		if err != nil {
			return nil, fmt.Errorf("%s: json: %w", b.Name(), err)
		}
		body, contentType = string(enc.(starlark.String)), "application/json"
	}
	if bodyValue != nil {
		given++
		s, ok := starlark.AsString(bodyValue)
		if !ok {
			if by, isBytes := bodyValue.(starlark.Bytes); isBytes {
				s, ok = string(by), true
			}
		}
		if !ok {
			return nil, fmt.Errorf("%s: body must be a string or bytes, not %s", b.Name(), bodyValue.Type())
		}
		body = s
	}
	if given > 1 {
		return nil, fmt.Errorf("%s: give at most one of form, json and body", b.Name())
	}
	if len(body) > maxClientBody {
		return nil, fmt.Errorf("%s: the body is %d bytes, over the test client's limit of %d", b.Name(), len(body), maxClientBody)
	}
	ctx := runtime.ThreadContext(thread)
	req := httptest.NewRequestWithContext(ctx, method, u.String(), strings.NewReader(body))
	req.RemoteAddr = "127.0.0.1:40000"
	if body == "" {
		req.Body = http.NoBody
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if headers != nil {
		for _, item := range headers.Items() {
			k, ok1 := starlark.AsString(item[0])
			v, ok2 := starlark.AsString(item[1])
			if !ok1 || !ok2 {
				return nil, fmt.Errorf("%s: headers must map strings to strings", b.Name())
			}
			req.Header.Set(k, v)
		}
	}
	names := make([]string, 0, len(c.cookies))
	for name := range c.cookies {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		req.AddCookie(&http.Cookie{Name: name, Value: c.cookies[name]})
	}
	_, h, err := tr.handler(ctx)
	if err != nil {
		return nil, err
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	res := rec.Result()
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, err
	}
	if err := runtime.ChargeAlloc(thread, "test client response", int64(len(raw))); err != nil {
		return nil, err
	}
	for _, ck := range res.Cookies() {
		if ck.MaxAge < 0 || ck.Value == "" {
			delete(c.cookies, ck.Name)
		} else {
			c.cookies[ck.Name] = ck.Value
		}
	}
	return response(thread, res, raw)
}

// addPairs adds the items of d (string keys; a string, number or a list of them as values)
// to v.
func addPairs(v url.Values, d *starlark.Dict) error {
	for _, item := range d.Items() {
		k, ok := starlark.AsString(item[0])
		if !ok {
			return fmt.Errorf("keys must be strings, not %s", item[0].Type())
		}
		values := []starlark.Value{item[1]}
		if l, ok := item[1].(*starlark.List); ok {
			values = values[:0]
			for i := range l.Len() {
				values = append(values, l.Index(i))
			}
		}
		for _, x := range values {
			if s, ok := starlark.AsString(x); ok {
				v.Add(k, s)
			} else {
				v.Add(k, x.String())
			}
		}
	}
	return nil
}

// response returns the test's view of res, whose body is raw.
func response(thread *starlark.Thread, res *http.Response, raw []byte) (starlark.Value, error) {
	headers := starlark.NewDict(len(res.Header))
	keys := make([]string, 0, len(res.Header))
	for k := range res.Header {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		_ = headers.SetKey(starlark.String(strings.ToLower(k)), starlark.String(strings.Join(res.Header[k], ", ")))
	}
	var decoded starlark.Value = starlark.None
	if strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") && len(raw) > 0 {
		v, err := starlark.Call(thread, json.Module.Members["decode"], starlark.Tuple{starlark.String(raw)}, []starlark.Tuple{{starlark.String("default"), starlark.None}})
		if err != nil {
			return nil, err
		}
		decoded = v
	}
	return starlarkstruct.FromStringDict(starlark.String("response"), starlark.StringDict{
		"status":  starlark.MakeInt(res.StatusCode),
		"headers": headers,
		"body":    starlark.String(raw),
		"json":    decoded,
	}), nil
}
