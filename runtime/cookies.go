package runtime

import (
	"fmt"
	"net/http"
	"strings"

	"go.starlark.net/starlark"
)

// A cookie is a cookie for a response to set or delete, built by the Starlark builtins
//
//	set_cookie(name, value, max_age = None, path = "/", domain = None, secure = False,
//	           http_only = True, same_site = "Lax")
//	delete_cookie(name, path = "/", domain = None, secure = False, same_site = "Lax")
//
// and given to response(..., cookies = [...]) or redirect(..., cookies = [...]), which add
// one Set-Cookie header per cookie. A cookie is immutable; in Starlark it has the
// attributes name, value and header (the Set-Cookie value).
//
// Everything is checked when the cookie is made, so a handler fails at the line that made
// a bad one: the name must be an HTTP token and not a platform cookie (IsPlatformCookie);
// the value printable ASCII without '"', ';' or '\' (encode anything else, with url.quote or
// base64.encode); max_age a number of seconds (None: the cookie lasts the browser session;
// 0 or less: delete it now); same_site "Lax", "Strict" or "None", and "None" only with
// secure = True, as browsers require.
type cookie struct {
	c http.Cookie
}

var (
	_ starlark.Value    = (*cookie)(nil)
	_ starlark.HasAttrs = (*cookie)(nil)
)

// Header returns the value of the cookie's Set-Cookie header.
func (c *cookie) Header() string { return c.c.String() }

func (c *cookie) String() string       { return fmt.Sprintf("cookie(%q)", c.Header()) }
func (c *cookie) Type() string         { return "cookie" }
func (c *cookie) Freeze()              {}
func (c *cookie) Truth() starlark.Bool { return starlark.True }
func (c *cookie) Hash() (uint32, error) {
	return starlark.String(c.Header()).Hash()
}

// Attr returns name, value or header.
func (c *cookie) Attr(name string) (starlark.Value, error) {
	switch name {
	case "name":
		return starlark.String(c.c.Name), nil
	case "value":
		return starlark.String(c.c.Value), nil
	case "header":
		return starlark.String(c.Header()), nil
	}
	return nil, nil
}

// AttrNames returns the attribute names, sorted.
func (c *cookie) AttrNames() []string { return []string{"header", "name", "value"} }

// setCookie implements set_cookie(name, value, ...).
func setCookie(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var name, value string
	var maxAge starlark.Value = starlark.None
	opts := cookieOptions{path: "/", httpOnly: true, sameSite: "Lax"}
	if err := starlark.UnpackArgs(b.Name(), args, kwargs,
		"name", &name, "value", &value, "max_age?", &maxAge, "path?", &opts.path, "domain?", &opts.domain,
		"secure?", &opts.secure, "http_only?", &opts.httpOnly, "same_site?", &opts.sameSite); err != nil {
		return nil, err
	}
	c := http.Cookie{Name: name, Value: value}
	if maxAge != starlark.None {
		n, err := starlark.AsInt32(maxAge)
		if err != nil {
			return nil, fmt.Errorf("%s: max_age must be an int of seconds or None, not %s", b.Name(), maxAge.Type())
		}
		c.MaxAge = n
		if n <= 0 {
			c.MaxAge = -1 // Max-Age=0: delete now
		}
	}
	return makeCookie(b.Name(), c, opts)
}

// deleteCookie implements delete_cookie(name, path = "/", domain = None, ...): a cookie
// with an empty value and Max-Age=0, which browsers drop at once. path and domain must be
// those the cookie was set with, since a browser keeps one cookie per name, path and domain.
func deleteCookie(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var name string
	opts := cookieOptions{path: "/", httpOnly: true, sameSite: "Lax"}
	if err := starlark.UnpackArgs(b.Name(), args, kwargs,
		"name", &name, "path?", &opts.path, "domain?", &opts.domain, "secure?", &opts.secure, "same_site?", &opts.sameSite); err != nil {
		return nil, err
	}
	return makeCookie(b.Name(), http.Cookie{Name: name, MaxAge: -1}, opts)
}

type cookieOptions struct {
	path, domain, sameSite string
	secure, httpOnly       bool
}

// makeCookie checks c with opts applied and returns it as a *cookie.
func makeCookie(fn string, c http.Cookie, opts cookieOptions) (*cookie, error) {
	c.Path, c.Domain, c.Secure, c.HttpOnly = opts.path, opts.domain, opts.secure, opts.httpOnly
	switch strings.ToLower(opts.sameSite) {
	case "lax":
		c.SameSite = http.SameSiteLaxMode
	case "strict":
		c.SameSite = http.SameSiteStrictMode
	case "none":
		if !c.Secure {
			return nil, fmt.Errorf("%s: same_site = \"None\" needs secure = True (browsers refuse a SameSite=None cookie that is not Secure)", fn)
		}
		c.SameSite = http.SameSiteNoneMode
	default:
		return nil, fmt.Errorf("%s: same_site is %q, want \"Lax\", \"Strict\" or \"None\"", fn, opts.sameSite)
	}
	if IsPlatformCookie(c.Name) {
		return nil, fmt.Errorf("%s: cookie %q is refused: cookies named starbase-* (with or without the __Host- or __Secure- prefix) are the platform's, such as the editor's session cookie", fn, c.Name)
	}
	for i := range len(c.Value) {
		if b := c.Value[i]; b < 0x20 || b >= 0x7f || b == '"' || b == ';' || b == '\\' {
			return nil, fmt.Errorf("%s: the value of cookie %q has the byte 0x%02x, which a cookie cannot hold (only printable ASCII without '\"', ';' or '\\'): encode it first, with url.quote or base64.encode", fn, c.Name, b)
		}
	}
	if err := c.Valid(); err != nil { // the name, path and domain
		return nil, fmt.Errorf("%s: %w", fn, err)
	}
	if err := checkHeader("Set-Cookie", c.String()); err != nil {
		return nil, fmt.Errorf("%s: %w", fn, err)
	}
	return &cookie{c: c}, nil
}

// cookieHeaders returns the Set-Cookie headers of v, a list or tuple of cookies.
func cookieHeaders(v starlark.Value) ([][2]string, error) {
	seq, ok := v.(starlark.Indexable)
	if _, isString := v.(starlark.String); !ok || isString {
		return nil, fmt.Errorf("got %s, want a list of set_cookie(...) or delete_cookie(...) values", v.Type())
	}
	var headers [][2]string
	for i := range seq.Len() {
		c, ok := seq.Index(i).(*cookie)
		if !ok {
			return nil, fmt.Errorf("item %d is %s, want a set_cookie(...) or delete_cookie(...) value", i, seq.Index(i).Type())
		}
		headers = append(headers, [2]string{"Set-Cookie", c.Header()})
	}
	return headers, nil
}

// redirectStatuses are the statuses redirect() answers with.
var redirectStatuses = map[int]bool{301: true, 302: true, 303: true, 307: true, 308: true}

// makeRedirect implements redirect(url, status = 303, cookies = []): a response with an
// empty body and Location: url. 303 (See Other) is what a handler answers a form POST
// with (Post/Redirect/Get): the browser follows it with a GET. 307 and 308 repeat the
// method and body; 301 and 308 are permanent, and browsers cache them.
func makeRedirect(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var location string
	status := http.StatusSeeOther
	var cookies starlark.Value = starlark.NewList(nil)
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "url", &location, "status?", &status, "cookies?", &cookies); err != nil {
		return nil, err
	}
	if !redirectStatuses[status] {
		return nil, fmt.Errorf("%s: status %d is not a redirect: use 303 (after a POST), 302 or 307 (temporary), 301 or 308 (permanent)", b.Name(), status)
	}
	if location == "" {
		return nil, fmt.Errorf("%s: the url is empty", b.Name())
	}
	if err := checkHeader("Location", location); err != nil {
		return nil, fmt.Errorf("%s: %w", b.Name(), err)
	}
	headers, err := cookieHeaders(cookies)
	if err != nil {
		return nil, fmt.Errorf("%s: cookies: %w", b.Name(), err)
	}
	return &Response{Status: status, Headers: append([][2]string{{"Location", location}}, headers...)}, nil
}
