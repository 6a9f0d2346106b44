package server

import (
	"fmt"
	"io"
	"net/http"
	"strings"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"

	"github.com/starbase/starbase/objects"
	"github.com/starbase/starbase/runtime"
)

// newRequestValue builds the req value handlers receive. body is read by the caller, within
// the size limit.
func newRequestValue(r *http.Request, rt appRoute, id string, body []byte) starlark.Value {
	params := starlark.NewDict(len(rt.params))
	for _, name := range rt.params {
		_ = params.SetKey(starlark.String(name), starlark.String(r.PathValue(name)))
	}
	q := r.URL.Query()
	query := starlark.NewDict(len(q))
	for k, vs := range q {
		_ = query.SetKey(starlark.String(k), starlark.String(vs[0]))
	}
	headers := starlark.NewDict(len(r.Header))
	for k, vs := range r.Header {
		_ = headers.SetKey(starlark.String(strings.ToLower(k)), starlark.String(strings.Join(vs, ", ")))
	}
	return starlarkstruct.FromStringDict(starlark.String("request"), starlark.StringDict{
		"id":      starlark.String(id),
		"method":  starlark.String(r.Method),
		"path":    starlark.String(r.URL.Path),
		"params":  params,
		"query":   query,
		"headers": headers,
		"body":    starlark.String(body),
	})
}

// readBody reads at most limit bytes of the request body.
func readBody(r *http.Request, limit int64) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%w: reading the request body: %v", errBadRequest, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%w: the request body is larger than the limit of %d bytes", errTooLarge, limit)
	}
	return b, nil
}

// reply is an HTTP answer computed from a handler's return value.
type reply struct {
	status      int
	contentType string
	headers     [][2]string
	body        []byte
}

// toReply converts what a handler returned into an HTTP answer whose body is at most
// maxBody bytes (see limits.go).
func toReply(v starlark.Value, maxBody runtime.ByteSize) (reply, error) {
	switch v := v.(type) {
	case starlark.String:
		if err := checkResponseSize("a string", len(v), maxBody); err != nil {
			return reply{}, err
		}
		return reply{status: http.StatusOK, contentType: "text/html; charset=utf-8", body: []byte(v)}, nil
	case starlark.Bytes:
		if err := checkResponseSize("bytes", len(v), maxBody); err != nil {
			return reply{}, err
		}
		return reply{status: http.StatusOK, contentType: "application/octet-stream", body: []byte(v)}, nil
	case starlark.NoneType:
		return reply{status: http.StatusNoContent}, nil
	case *starlark.Dict, *starlark.List, starlark.Tuple, *objects.Object:
		if err := checkJSONSize(v, maxBody); err != nil {
			return reply{}, err
		}
		b, err := encodeJSON(v)
		if err != nil {
			return reply{}, err
		}
		if err := checkResponseSize("JSON", len(b), maxBody); err != nil {
			return reply{}, err
		}
		return reply{status: http.StatusOK, contentType: "application/json", body: b}, nil
	case *runtime.Response:
		if err := checkResponseSize("a response() body", len(v.Body), maxBody); err != nil {
			return reply{}, err
		}
		rep := reply{status: v.Status, contentType: v.ContentType, headers: v.Headers, body: []byte(v.Body)}
		if rep.contentType == "" {
			rep.contentType = "text/html; charset=utf-8"
		}
		return rep, nil
	}
	return reply{}, fmt.Errorf("handler returned a %s: return a string, bytes, a dict, list or stored object (JSON), None or response(...)", v.Type())
}
