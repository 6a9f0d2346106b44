package runtime

import (
	"fmt"
	"strings"

	"go.starlark.net/lib/json"
	"go.starlark.net/lib/math"
	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
)

// Builtins returns the names predeclared for every stored module, in addition to the
// Starlark universe (len, str, dict, fail, print, ...; print goes to the Loader's logger):
//
//	struct(**kwargs)   an immutable record (go.starlark.net/starlarkstruct)
//	json               encode, decode, indent (go.starlark.net/lib/json)
//	math               floor, sqrt, pi, ... (go.starlark.net/lib/math)
//	response(body, status=200, headers={}, content_type=None, cookies=[])
//	                   an HTTP response for a handler to return: see Response
//	redirect(url, status=303, cookies=[])
//	                   a response that redirects: see makeRedirect
//	set_cookie(name, value, ...), delete_cookie(name, ...)
//	                   cookies for response() and redirect() to set: see cookies.go
//
// Nothing here reads the clock, the filesystem, the environment or the network: stored
// code has no ambient authority. Options.Predeclared adds names to this list.
func Builtins() starlark.StringDict {
	return starlark.StringDict{
		"struct":        starlark.NewBuiltin("struct", starlarkstruct.Make),
		"json":          json.Module,
		"math":          math.Module,
		"response":      starlark.NewBuiltin("response", makeResponse),
		"redirect":      starlark.NewBuiltin("redirect", makeRedirect),
		"set_cookie":    starlark.NewBuiltin("set_cookie", setCookie),
		"delete_cookie": starlark.NewBuiltin("delete_cookie", deleteCookie),
	}
}

// Response is an HTTP response built by the Starlark builtin
//
//	response(body, status=200, headers={}, content_type=None, cookies=[])
//
// body is a string or bytes (any content type: response(png, content_type="image/png")); status an int in 200..599 (1xx responses are interim, and only
// the server sends them); headers a dict of header name to value, or a list of (name,
// value) pairs when a name repeats; content_type, if given, sets Content-Type (and then
// headers must not). Names must be HTTP tokens and values must not contain control
// characters other than tab (no CR or LF: no header injection). cookies is a list of
// set_cookie(...) and delete_cookie(...) values, each added as a Set-Cookie header after
// headers.
//
// Some headers are the platform's, and stored code cannot set them (see PlatformHeader):
// any header whose name starts with "Starbase-" (Starbase-Commit names the code that
// answered), a Set-Cookie for a cookie whose name starts with "starbase-", optionally
// after the "__Host-" or "__Secure-" prefix (the editor's session cookie is
// starbase-session, __Host-starbase-session over TLS, and an app that could set it could
// log users out of the editor or fix their session), and the headers whose effect a
// browser applies to the whole origin, such as Clear-Site-Data.
//
// In Starlark a response is immutable and has the attributes body, status, headers (a
// list of (name, value) tuples) and content_type.
type Response struct {
	Body        string      // the bytes of the Starlark string or bytes body
	Status      int         // 200..599
	Headers     [][2]string // in the order given, Content-Type excluded
	ContentType string      // "" if not set
}

var (
	_ starlark.Value    = (*Response)(nil)
	_ starlark.HasAttrs = (*Response)(nil)
)

func makeResponse(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var body starlark.Value
	status := 200
	var headers starlark.Value = starlark.NewDict(0)
	var contentType starlark.Value = starlark.None
	var cookies starlark.Value = starlark.NewList(nil)
	if err := starlark.UnpackArgs(b.Name(), args, kwargs,
		"body", &body, "status?", &status, "headers?", &headers, "content_type?", &contentType, "cookies?", &cookies); err != nil {
		return nil, err
	}
	r := &Response{Status: status}
	switch body := body.(type) {
	case starlark.String:
		r.Body = string(body)
	case starlark.Bytes:
		r.Body = string(body)
	default:
		return nil, fmt.Errorf("%s: body must be a string or bytes, not %s", b.Name(), body.Type())
	}
	if status < 200 || status > 599 {
		why := "a response's status must be 200-599"
		if status >= 100 {
			why += " (1xx responses are interim, and only the server sends them)"
		}
		return nil, fmt.Errorf("%s: status %d is not allowed: %s", b.Name(), status, why)
	}
	pairs, err := headerPairs(headers)
	if err != nil {
		return nil, fmt.Errorf("%s: headers: %w", b.Name(), err)
	}
	for _, h := range pairs {
		if err := checkHeader(h[0], h[1]); err != nil {
			return nil, fmt.Errorf("%s: headers: %w", b.Name(), err)
		}
		if err := PlatformHeader(h[0], h[1]); err != nil {
			return nil, fmt.Errorf("%s: headers: %w", b.Name(), err)
		}
		if strings.EqualFold(h[0], "Content-Type") {
			if contentType != starlark.None {
				return nil, fmt.Errorf("%s: Content-Type is set by both headers and content_type; use one", b.Name())
			}
			r.ContentType = h[1]
			continue
		}
		r.Headers = append(r.Headers, h)
	}
	if contentType != starlark.None {
		ct, ok := starlark.AsString(contentType)
		if !ok {
			return nil, fmt.Errorf("%s: content_type must be a string or None, not %s", b.Name(), contentType.Type())
		}
		if err := checkHeader("Content-Type", ct); err != nil {
			return nil, fmt.Errorf("%s: content_type: %w", b.Name(), err)
		}
		r.ContentType = ct
	}
	setCookies, err := cookieHeaders(cookies)
	if err != nil {
		return nil, fmt.Errorf("%s: cookies: %w", b.Name(), err)
	}
	r.Headers = append(r.Headers, setCookies...)
	return r, nil
}

// headerPairs returns the (name, value) pairs of a dict or of a list or tuple of pairs.
func headerPairs(v starlark.Value) ([][2]string, error) {
	var items []starlark.Tuple
	switch v := v.(type) {
	case *starlark.Dict:
		items = v.Items()
	case starlark.Indexable: // list or tuple of pairs
		if _, isString := v.(starlark.String); isString {
			return nil, fmt.Errorf("got string, want a dict or a list of (name, value) pairs")
		}
		for i := range v.Len() {
			pair, ok := v.Index(i).(starlark.Indexable)
			if !ok || pair.Len() != 2 {
				return nil, fmt.Errorf("item %d is %s, want a (name, value) pair", i, v.Index(i).Type())
			}
			items = append(items, starlark.Tuple{pair.Index(0), pair.Index(1)})
		}
	default:
		return nil, fmt.Errorf("got %s, want a dict or a list of (name, value) pairs", v.Type())
	}
	pairs := make([][2]string, 0, len(items))
	for _, item := range items {
		name, ok := starlark.AsString(item[0])
		if !ok {
			return nil, fmt.Errorf("header name %s is %s, want string", item[0], item[0].Type())
		}
		value, ok := starlark.AsString(item[1])
		if !ok {
			return nil, fmt.Errorf("value of header %q is %s, want string", name, item[1].Type())
		}
		pairs = append(pairs, [2]string{name, value})
	}
	return pairs, nil
}

// checkHeader reports whether name is an HTTP token (RFC 9110, 5.6.2) and value holds no
// control character other than horizontal tab.
func checkHeader(name, value string) error {
	if name == "" {
		return fmt.Errorf("empty header name")
	}
	for i := range len(name) {
		if !isTokenChar(name[i]) {
			return fmt.Errorf("header name %q contains %q, which is not allowed in a header name", name, name[i])
		}
	}
	for i := range len(value) {
		if c := value[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return fmt.Errorf("value of header %q contains the control character %q (CR and LF would split the header)", name, c)
		}
	}
	return nil
}

// PlatformHeader refuses the response headers that are the platform's, or whose effect
// reaches beyond the response to the whole origin, which the application shares with the
// platform (the API, the editor's session):
//
//   - any Starbase-* header (Starbase-Commit names the code that answered, Starbase-API
//     marks an answer of the API, which the CLI trusts);
//   - a Set-Cookie for a platform cookie (see IsPlatformCookie), which could log users out
//     of the editor or fix their session;
//   - the headers listed in originWideHeaders.
//
// Names are compared without regard to case. The server checks every header of every app
// response with it before sending anything, whatever made the response.
func PlatformHeader(name, value string) error {
	if hasPrefixFold(name, "Starbase-") {
		return fmt.Errorf("header %q is reserved for the platform: stored code cannot set Starbase-* headers", name)
	}
	for _, h := range originWideHeaders {
		if strings.EqualFold(name, h.name) {
			return fmt.Errorf("header %q is refused: %s, and the application shares its origin with the platform", name, h.why)
		}
	}
	if !strings.EqualFold(name, "Set-Cookie") {
		return nil
	}
	pair, _, _ := strings.Cut(value, ";")
	cookie, _, _ := strings.Cut(pair, "=")
	if IsPlatformCookie(cookie) {
		return fmt.Errorf("Set-Cookie for %q is refused: cookies named starbase-* (with or without the __Host- or __Secure- prefix) are the platform's, such as the editor's session cookie", strings.TrimSpace(pair))
	}
	return nil
}

// originWideHeaders are response headers whose effect is not limited to the response: a
// browser applies them to the whole origin, the platform's pages and API included.
var originWideHeaders = []struct{ name, why string }{
	{"Clear-Site-Data", "it clears the cookies, storage or cache of the whole origin (it would log users out of the editor)"},
	{"WWW-Authenticate", "the platform removes Authorization from every app request, and a challenge would make browsers send Basic credentials to the platform's API, which judges a request by that header alone"},
	{"Strict-Transport-Security", "HSTS applies to the whole host (and with includeSubDomains to its subdomains); the node sets it itself over TLS"},
	{"Alt-Svc", "it moves the origin's future requests, the platform's included, to another endpoint"},
	{"NEL", "a Network Error Logging policy covers every request to the origin and would report the platform's to the application's collector"},
	{"Report-To", "its reporting groups serve origin-wide policies such as NEL"},
	{"Origin-Agent-Cluster", "it decides the agent cluster of the whole origin"},
	{"Set-Login", "it sets the login status of the whole origin"},
	{"Service-Worker-Allowed", "it widens a service worker's scope, which could then cover the platform's pages under /-/"},
	{"Public-Key-Pins", "key pins apply to the whole host"},
	{"Public-Key-Pins-Report-Only", "key pins apply to the whole host"},
	{"Expect-CT", "it applies to the whole host"},
}

// IsPlatformCookie reports whether a cookie of that name is the platform's: starbase-*
// or starbase, after an optional __Host- or __Secure- prefix, without regard to case and
// surrounding white space. The editor's session cookie is starbase-session
// (__Host-starbase-session over TLS). A cookie without "=" counts by its whole text, as a
// browser would store it as a nameless cookie that the server reads back under that name.
// The server removes these cookies from every app request, and PlatformHeader refuses to
// let stored code set them.
func IsPlatformCookie(name string) bool {
	name = strings.TrimSpace(name)
	for _, prefix := range []string{"__Host-", "__Secure-"} {
		if hasPrefixFold(name, prefix) {
			name = name[len(prefix):]
		}
	}
	return hasPrefixFold(name, "starbase-") || strings.EqualFold(name, "starbase")
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

func isTokenChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

func (r *Response) String() string {
	return fmt.Sprintf("response(status=%d, %d header(s), %d byte body)", r.Status, len(r.Headers), len(r.Body))
}

// Type returns "response".
func (r *Response) Type() string { return "response" }

// Freeze does nothing: a Response is immutable.
func (r *Response) Freeze() {}

// Truth returns true.
func (r *Response) Truth() starlark.Bool { return starlark.True }

// Hash fails: responses are not hashable.
func (r *Response) Hash() (uint32, error) { return 0, fmt.Errorf("unhashable type: response") }

// Attr returns the attributes listed on Response.
func (r *Response) Attr(name string) (starlark.Value, error) {
	switch name {
	case "body":
		return starlark.String(r.Body), nil
	case "status":
		return starlark.MakeInt(r.Status), nil
	case "headers":
		items := make([]starlark.Value, len(r.Headers))
		for i, h := range r.Headers {
			items[i] = starlark.Tuple{starlark.String(h[0]), starlark.String(h[1])}
		}
		return starlark.NewList(items), nil
	case "content_type":
		return starlark.String(r.ContentType), nil
	}
	return nil, nil
}

// AttrNames returns the attribute names, sorted.
func (r *Response) AttrNames() []string {
	return []string{"body", "content_type", "headers", "status"}
}
