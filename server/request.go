package server

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"go.starlark.net/starlark"

	"github.com/starbase/starbase/build"
	"github.com/starbase/starbase/objects"
	"github.com/starbase/starbase/runtime"
	"github.com/starbase/starbase/runtime/printlog"
	"github.com/starbase/starbase/web"
)

// appRequest is the state of one app request, made with one allocation: the writer its
// route is matched with, the print budget its handler's runs share, the req value they
// receive and their arguments, (req,).
type appRequest struct {
	matcher build.Matcher
	prints  printlog.Budget
	value   web.Request
	args    [1]starlark.Value
}

// newAppRequest returns the state of a request whose prints are bounded by limits.
func newAppRequest(limits runtime.Limits) *appRequest {
	ar := &appRequest{matcher: build.NewMatcher()}
	ar.prints.Reset(printlog.Options{MaxLines: limits.MaxPrintLines, MaxBytes: int(limits.MaxPrintBytes)})
	return ar
}

// setRequest makes the req value of ar the (frozen) request in, and returns the handler's
// arguments.
func (ar *appRequest) setRequest(in web.Incoming) starlark.Tuple {
	ar.value.Set(in) // frozen: a handler re-run after a conflict must see the same request
	ar.args[0] = &ar.value
	return ar.args[:]
}

// credentialHeaders are request headers that may carry a credential of the platform: a
// bearer token, a proxy's credential, the session's anti-forgery token. No app request
// carries them (see forApp).
var credentialHeaders = []string{"Authorization", "Proxy-Authorization", csrfHeader}

// forApp returns r as stored code may see it: without the headers that carry a credential
// of the platform (credentialHeaders, whatever their case) and without the platform's
// cookies (runtime.IsPlatformCookie: the session cookie, over TLS or not, whatever its
// case) in any Cookie header, the application's own cookies kept as they came. r itself is
// not modified: when it carries nothing to remove it is returned as is, otherwise a
// shallow copy with a new Header.
func forApp(r *http.Request) *http.Request {
	if !carriesCredential(r.Header) {
		return r
	}
	h := make(http.Header, len(r.Header))
	for k, vs := range r.Header {
		switch {
		case isCredentialHeader(k):
		case strings.EqualFold(k, "Cookie"):
			if kept := appCookies(vs); kept != "" {
				h["Cookie"] = append(h["Cookie"], kept)
			}
		default:
			h[k] = vs
		}
	}
	r2 := r.WithContext(r.Context()) // a shallow copy
	r2.Header = h
	return r2
}

// carriesCredential reports whether h has a header forApp removes.
func carriesCredential(h http.Header) bool {
	for k, vs := range h {
		if isCredentialHeader(k) {
			return true
		}
		if strings.EqualFold(k, "Cookie") {
			for _, v := range vs {
				for pair := range strings.SplitSeq(v, ";") {
					name, _, _ := strings.Cut(pair, "=")
					if runtime.IsPlatformCookie(name) {
						return true
					}
				}
			}
		}
	}
	return false
}

func isCredentialHeader(name string) bool {
	for _, c := range credentialHeaders {
		if strings.EqualFold(name, c) {
			return true
		}
	}
	return false
}

// appCookies returns the cookies of Cookie header values vs that are not the platform's,
// each as it came, joined by "; " ("" when none is left).
func appCookies(vs []string) string {
	var kept []string
	for _, v := range vs {
		for pair := range strings.SplitSeq(v, ";") {
			pair = strings.TrimSpace(pair)
			name, _, _ := strings.Cut(pair, "=")
			if pair != "" && !runtime.IsPlatformCookie(name) {
				kept = append(kept, pair)
			}
		}
	}
	return strings.Join(kept, "; ")
}

// DefaultMaxBodyBytes is the default of Config.MaxBodyBytes (serve --max-body).
const DefaultMaxBodyBytes = 10 << 20

// readBody reads at most limit bytes of the request body. A body that says it is larger
// (Content-Length) is refused before any of it is read.
func readBody(r *http.Request, limit int64) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	if r.ContentLength > limit {
		return nil, fmt.Errorf("%w: the request body is %d bytes, larger than the limit of %d bytes (serve --max-body)", errTooLarge, r.ContentLength, limit)
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if errors.Is(err, errBodyTimeout) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("%w: reading the request body: %v", errBadRequest, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%w: the request body is larger than the limit of %d bytes (serve --max-body)", errTooLarge, limit)
	}
	return b, nil
}

// reply is an HTTP answer computed from a handler's return value.
type reply struct {
	status      int
	contentType []string // the value of Content-Type, if any
	headers     [][2]string
	body        []byte
}

// Values of Content-Type, made once: a response is given these slices instead of new
// ones (see security.go). They are never modified.
var (
	htmlContentType  = []string{"text/html; charset=utf-8"}
	bytesContentType = []string{"application/octet-stream"}
	jsonContentType  = []string{"application/json"}
)

// toReply converts what a handler returned into an HTTP answer whose body is at most
// maxBody bytes (see limits.go).
func toReply(v starlark.Value, maxBody runtime.ByteSize) (reply, error) {
	switch v := v.(type) {
	case starlark.String:
		if err := checkResponseSize("a string", len(v), maxBody); err != nil {
			return reply{}, err
		}
		return reply{status: http.StatusOK, contentType: htmlContentType, body: []byte(v)}, nil
	case starlark.Bytes:
		if err := checkResponseSize("bytes", len(v), maxBody); err != nil {
			return reply{}, err
		}
		return reply{status: http.StatusOK, contentType: bytesContentType, body: []byte(v)}, nil
	case starlark.NoneType:
		return reply{status: http.StatusNoContent}, nil
	case *starlark.Dict, *starlark.List, starlark.Tuple, *objects.Object:
		b, err := encodeJSON(v, maxBody)
		if err != nil {
			return reply{}, err
		}
		return reply{status: http.StatusOK, contentType: jsonContentType, body: b}, nil
	case *runtime.Response:
		if err := checkResponseSize("a response() body", len(v.Body), maxBody); err != nil {
			return reply{}, err
		}
		// response() refuses these already; checked again here, the last step before any
		// header is sent, whatever built the response.
		for _, h := range v.Headers {
			if err := runtime.PlatformHeader(h[0], h[1]); err != nil {
				return reply{}, err
			}
		}
		rep := reply{status: v.Status, contentType: htmlContentType, headers: v.Headers, body: []byte(v.Body)}
		if v.ContentType != "" {
			rep.contentType = []string{v.ContentType}
		}
		return rep, nil
	}
	return reply{}, fmt.Errorf("handler returned a %s: return a string, bytes, a dict, list or stored object (JSON), None or response(...)", v.Type())
}
