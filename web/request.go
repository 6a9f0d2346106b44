package web

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"go.starlark.net/starlark"

	"github.com/starbase/starbase/objects"
	"github.com/starbase/starbase/runtime"
)

// Request is the req value handlers receive: a struct (its type is "struct", it prints as
// request(body = ..., cookies = ..., ...)) with these fields:
//
//	body          the body, a string (at most serve --max-body)
//	cookies       a MultiDict of the Cookie headers' cookies (every Cookie header, each
//	              parsed on its own; the platform's cookies are never among them)
//	headers       a dict of lowercased header name to value, repeated headers joined by ", "
//	host          the host the client asked for (Host, or a trusted proxy's X-Forwarded-Host)
//	id            the request id, as in the log
//	method        "GET", "POST", ...
//	params        a dict of the route's wildcards ("GET /items/{id}": params["id"])
//	path          the path, decoded
//	query         a MultiDict of the query string (query["tag"], query.getlist("tag"))
//	remote_addr   the client's IP address (see Proxies.originOf)
//	scheme        "http" or "https" (a trusted proxy's X-Forwarded-Proto counts)
//	url           the full URL: scheme://host/path?query
//
// and these methods, which parse the body on their first call (see form.go):
//
//	form()        a MultiDict of the text fields of a urlencoded or multipart form
//	files()       a MultiDict of the files of a multipart form
//	json(default = unbound)   the body decoded as JSON
//
// A body that is not what the method parses answers 400 (as abort(400, why) would),
// unless json was given a default.
//
// Each field is built from the HTTP request on first use and then kept, so a handler pays
// only for what it reads. A Request is frozen before its handler runs, because a data
// conflict may run the handler again and each run must see the same request: each value
// is frozen as it is built, and a method returns the same value on every call. A Request
// is used by the goroutine serving it (its handler's runs are sequential): it is not safe
// for concurrent use.
type Request struct {
	http    *http.Request
	id      string
	params  []string // the route's wildcard names
	body    []byte   // read within the size limit
	proxies Proxies

	fields [len(requestFields)]starlark.Value // built so far, by index in requestFields
	origin *origin                            // made on first use
	parsed map[string]parsed                  // what form(), files() and json() returned

	// thread is the thread of the handler's run that reads the fields (SetThread);
	// charged[i] is the last thread charged the size of fields[i].
	thread  *starlark.Thread
	charged [len(requestFields)]*starlark.Thread
}

// parsed is the outcome of a method that parses the body.
type parsed struct {
	v   starlark.Value
	err error
}

// requestFields are the attribute names of a request, sorted.
var requestFields = [...]string{
	"body", "cookies", "files", "form", "headers", "host", "id", "json", "method", "params",
	"path", "query", "remote_addr", "scheme", "url",
}

var _ starlark.HasAttrs = (*Request)(nil)

// Incoming is what a Request is made of.
type Incoming struct {
	HTTP   *http.Request
	ID     string   // the request id
	Params []string // the wildcard names of the route that matched
	Body   []byte   // the body, read within the size limit
	// Proxies are the proxies whose X-Forwarded-* headers are believed.
	Proxies Proxies
}

// Set makes q the request in, frozen. (A Request is a value so that the server can
// allocate it with the rest of a request's state.)
func (q *Request) Set(in Incoming) {
	*q = Request{http: in.HTTP, id: in.ID, params: in.Params, body: in.Body, proxies: in.Proxies}
}

// SetThread makes thread the one whose run of the handler reads q's fields from now on:
// the copies that body, headers and cookies make of the HTTP request are charged to its
// allocation check (runtime.ChargeAlloc), once per run that reads them (a run after a
// data conflict holds them too). Without a thread nothing is charged.
func (q *Request) SetThread(thread *starlark.Thread) { q.thread = thread }

// Attr returns the field name, building it on first use.
func (q *Request) Attr(name string) (starlark.Value, error) {
	i := slices.Index(requestFields[:], name)
	if i < 0 {
		return nil, starlark.NoSuchAttrError(fmt.Sprintf("request has no .%s field", name))
	}
	if q.thread != nil && q.charged[i] != q.thread {
		if n := q.copySize(name); n > 0 { // body, headers and cookies: the others copy little
			if err := runtime.ChargeAlloc(q.thread, "req."+name, n); err != nil {
				return nil, err
			}
		}
		q.charged[i] = q.thread
	}
	if q.fields[i] == nil {
		v, err := q.build(name)
		if err != nil {
			return nil, err
		}
		v.Freeze()
		q.fields[i] = v
	}
	return q.fields[i], nil
}

// build returns a new value of the field name.
func (q *Request) build(name string) (starlark.Value, error) {
	if name == "query" {
		return parseQuery(q.http.URL.RawQuery)
	}
	return q.field(name), nil
}

// field returns a new value of the field name, other than query.
func (q *Request) field(name string) starlark.Value {
	switch name {
	case "body":
		return starlark.String(q.body)
	case "cookies":
		cookies := newMultiDict()
		for _, c := range q.http.Cookies() {
			cookies.add(c.Name, starlark.String(c.Value))
		}
		return cookies
	case "files", "form", "json":
		return starlark.NewBuiltin(name, q.method)
	case "headers":
		headers := starlark.NewDict(len(q.http.Header))
		for k, vs := range q.http.Header {
			_ = headers.SetKey(starlark.String(strings.ToLower(k)), starlark.String(strings.Join(vs, ", ")))
		}
		return headers
	case "host":
		return starlark.String(q.getOrigin().Host)
	case "id":
		return starlark.String(q.id)
	case "method":
		return starlark.String(q.http.Method)
	case "params":
		params := starlark.NewDict(len(q.params))
		for _, name := range q.params {
			_ = params.SetKey(starlark.String(name), starlark.String(q.http.PathValue(name)))
		}
		return params
	case "path":
		return starlark.String(q.http.URL.Path)
	case "remote_addr":
		return starlark.String(q.getOrigin().Addr)
	case "scheme":
		return starlark.String(q.getOrigin().Scheme)
	default: // "url"
		o := q.getOrigin()
		return starlark.String(o.Scheme + "://" + o.Host + q.http.URL.RequestURI())
	}
}

// Bytes a field's copy costs beyond its text: a dict or MultiDict entry and its strings,
// and for a cookie the *http.Cookie that parsing makes.
const (
	headerEntryBytes = 96
	cookieEntryBytes = 256
)

// copySize returns an upper estimate of what building the field name copies from the
// HTTP request, counted without building it: body, headers and cookies are bounded by
// serve --max-body and Go's header limit (1 MiB), but a handler's copies of them are
// memory it holds like any other. The other fields are small, or charged by their
// parse (query, form, files, json).
func (q *Request) copySize(name string) int64 {
	var n int64
	switch name {
	case "body":
		n = int64(len(q.body))
	case "headers":
		for k, vs := range q.http.Header {
			n += int64(len(k)) + headerEntryBytes
			for _, v := range vs {
				n += int64(len(v)) + 2
			}
		}
	case "cookies":
		for _, line := range q.http.Header["Cookie"] {
			n += int64(len(line)) + cookieEntryBytes*int64(strings.Count(line, ";")+1)
		}
	}
	return n
}

func (q *Request) getOrigin() *origin {
	if q.origin == nil {
		o := q.proxies.originOf(q.http)
		q.origin = &o
	}
	return q.origin
}

// method implements req.form(), req.files() and req.json(). Each parses the body once;
// later calls return the same value, or the same error.
func (q *Request) method(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	name := b.Name()
	var def starlark.Value
	if name == "json" {
		if err := starlark.UnpackArgs(name, args, kwargs, "default?", &def); err != nil {
			return nil, err
		}
	} else if err := starlark.UnpackPositionalArgs(name, args, kwargs, 0); err != nil {
		return nil, err
	}
	p, ok := q.parsed[name]
	if !ok {
		switch name {
		case "json":
			p.v, p.err = q.decodeJSON(thread)
		default:
			var form *parsedForm
			form, p.err = q.form(thread)
			if p.err == nil {
				p.v = form.fields
				if name == "files" {
					p.v = form.files
				}
			}
		}
		if p.v != nil {
			p.v.Freeze()
		}
		if q.parsed == nil {
			q.parsed = map[string]parsed{}
		}
		q.parsed[name] = p
	}
	var bad *objects.AbortError
	if def != nil && errors.As(p.err, &bad) {
		return def, nil
	}
	return p.v, p.err
}

// AttrNames returns the field names, sorted.
func (q *Request) AttrNames() []string { return slices.Clone(requestFields[:]) }

// String formats q as starlarkstruct does a struct: request(body = "", cookies = ..., ...).
func (q *Request) String() string {
	var b strings.Builder
	b.WriteString("request(")
	for i, name := range requestFields {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(name)
		b.WriteString(" = ")
		if v, err := q.Attr(name); err == nil {
			b.WriteString(v.String())
		} else {
			b.WriteString("<" + err.Error() + ">") // a query string over MaxFormFields
		}
	}
	b.WriteByte(')')
	return b.String()
}

func (q *Request) Type() string         { return "struct" }
func (q *Request) Truth() starlark.Bool { return true }
func (q *Request) Hash() (uint32, error) {
	return 0, errors.New("unhashable type: struct (a request holds dicts)")
}

// Freeze does nothing: a Request is always frozen (each field is frozen as it is built).
func (q *Request) Freeze() {}
