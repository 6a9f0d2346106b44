package web

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"

	"github.com/starbase/starbase/objects"
	"github.com/starbase/starbase/runtime"
)

// Bounds of what req.query, req.form() and req.files() parse, beyond the size of the body
// (serve --max-body) and of the header: each parsed value is a Starlark value, so a body of
// ten million "&" would otherwise cost hundreds of bytes per byte.
const (
	// MaxFormFields bounds the fields of a query string or of a urlencoded body (as Go's
	// net/url does by default since Go 1.24).
	MaxFormFields = 10000
	// MaxFormParts bounds the parts (fields and files) of a multipart body (as Go's
	// mime/multipart does by default).
	MaxFormParts = 1000
)

// parsedForm is a form body: its text fields and its files. A file is a struct with the
// fields filename, content_type (as the client sent it; "application/octet-stream" if
// none) and data (bytes).
type parsedForm struct {
	fields *MultiDict
	files  *MultiDict
}

// badRequest is the error of a method given a body it cannot parse: 400, as abort(400,
// message) would answer.
func badRequest(format string, args ...any) error {
	return &objects.AbortError{Status: http.StatusBadRequest, Message: fmt.Sprintf(format, args...)}
}

// parseQuery returns the fields of a query string, or of a urlencoded body. A pair whose
// escapes are malformed is skipped, as net/url's Query does.
func parseQuery(raw string) (*MultiDict, error) {
	d := newMultiDict()
	if n := strings.Count(raw, "&") + 1; n > MaxFormFields && len(raw) > 0 {
		return nil, badRequest("the query string or form has %d fields, over the limit of %d (web.MaxFormFields)", n, MaxFormFields)
	}
	for pair := range strings.SplitSeq(raw, "&") {
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		key, err1 := url.QueryUnescape(k)
		value, err2 := url.QueryUnescape(v)
		if err1 != nil || err2 != nil {
			continue
		}
		d.add(key, starlark.String(value))
	}
	return d, nil
}

// form parses q's body as a form: application/x-www-form-urlencoded or multipart/form-data.
// A body of any other type is an empty form, as in Flask. What it builds is charged to the
// thread's allocation check first: at most about twice the body, plus a slot per field.
func (q *Request) form(thread *starlark.Thread) (*parsedForm, error) {
	form := &parsedForm{fields: newMultiDict(), files: newMultiDict()}
	if len(q.body) == 0 {
		return form, nil
	}
	mediaType, params, err := mime.ParseMediaType(q.http.Header.Get("Content-Type"))
	if err != nil && q.http.Header.Get("Content-Type") != "" {
		return nil, badRequest("the Content-Type of the request is malformed: %v", err)
	}
	if mediaType != "application/x-www-form-urlencoded" && mediaType != "multipart/form-data" {
		return form, nil
	}
	fields := int64(bytes.Count(q.body, []byte("&")) + bytes.Count(q.body, []byte("\n")) + 1)
	if err := runtime.ChargeAlloc(thread, "req.form()", 2*int64(len(q.body))+64*fields); err != nil {
		return nil, err
	}
	if mediaType == "application/x-www-form-urlencoded" {
		if form.fields, err = parseQuery(string(q.body)); err != nil {
			return nil, err
		}
		return form, nil
	}
	boundary := params["boundary"]
	if boundary == "" {
		return nil, badRequest("the request is multipart/form-data but its Content-Type has no boundary")
	}
	mr := multipart.NewReader(bytes.NewReader(q.body), boundary)
	for parts := 0; ; parts++ {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return form, nil
		}
		if err != nil {
			return nil, badRequest("the multipart form is malformed: %v", err)
		}
		if parts == MaxFormParts {
			return nil, badRequest("the multipart form has more than %d parts (web.MaxFormParts)", MaxFormParts)
		}
		name := part.FormName()
		data, err := io.ReadAll(part) // within the body, already in memory
		if err != nil {
			return nil, badRequest("the multipart form is malformed: part %q: %v", name, err)
		}
		if name == "" {
			continue // not a form field (no Content-Disposition: form-data; name=...)
		}
		filename := part.FileName()
		if _, hasFilename := dispositionParams(part)["filename"]; !hasFilename {
			form.fields.add(name, starlark.String(data))
			continue
		}
		contentType := part.Header.Get("Content-Type")
		if contentType == "" {
			contentType = "application/octet-stream"
		}
		file := starlarkstruct.FromStringDict(starlark.String("file"), starlark.StringDict{
			"filename":     starlark.String(filename),
			"content_type": starlark.String(contentType),
			"data":         starlark.Bytes(data),
		})
		file.Freeze()
		form.files.add(name, file)
	}
}

// dispositionParams returns the parameters of a part's Content-Disposition.
func dispositionParams(p *multipart.Part) map[string]string {
	_, params, err := mime.ParseMediaType(p.Header.Get("Content-Disposition"))
	if err != nil {
		return nil
	}
	return params
}

// decodeJSON decodes q's body as JSON for req.json(). An empty or malformed body is 400.
func (q *Request) decodeJSON(thread *starlark.Thread) (starlark.Value, error) {
	if len(bytes.TrimSpace(q.body)) == 0 {
		return nil, badRequest("the request has no body; req.json() expects a JSON body")
	}
	v, err := runtime.DecodeJSON(thread, string(q.body))
	if err == nil {
		return v, nil
	}
	if !errors.Is(err, runtime.ErrBadJSON) {
		return nil, err // a limit of the request, not the client's text
	}
	return nil, badRequest("the request body is %v", err)
}
