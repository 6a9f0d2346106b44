package web

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"go.starlark.net/starlark"

	"github.com/starbase/starbase/objects"
	"github.com/starbase/starbase/runtime"
)

// FuzzRequest_BodyParsers feeds any body and Content-Type to the parsers of a request's
// body (req.form(), req.files(), req.json()) and its query string: each either returns a
// value or refuses with a 400 (an *objects.AbortError) or a limit of the request, and
// never panics.
func FuzzRequest_BodyParsers(f *testing.F) {
	f.Add([]byte("a=1&b=%zz&a=2"), "application/x-www-form-urlencoded", "x=1&x=%")
	f.Add([]byte("--B\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.txt\"\r\n\r\nhi\r\n--B--\r\n"), "multipart/form-data; boundary=B", "")
	f.Add([]byte(`{"a": [1, 2, {"b": null}]}`), "application/json", "")
	f.Add([]byte("[[[[[[[[[["), "multipart/form-data", ";;")
	f.Fuzz(func(t *testing.T, body []byte, contentType, query string) {
		r := httptest.NewRequest("POST", "/", bytes.NewReader(body))
		r.Header.Set("Content-Type", contentType)
		r.URL.RawQuery = query
		var q Request
		q.Set(Incoming{HTTP: r, ID: "fuzz", Body: body})
		thread := &starlark.Thread{Name: "fuzz"}
		check := func(what string, err error) {
			var abort *objects.AbortError
			if err == nil || errors.As(err, &abort) && abort.Status == http.StatusBadRequest ||
				errors.Is(err, runtime.ErrMemoryLimit) || errors.Is(err, runtime.ErrDepthLimit) {
				return
			}
			t.Fatalf("%s of %q (%s): %v, want a value, a 400 or a limit", what, body, contentType, err)
		}
		form, err := q.form(thread)
		check("req.form()", err)
		if err == nil && (form.fields == nil || form.files == nil) {
			t.Fatal("req.form() returned a form without fields or files")
		}
		_, err = q.decodeJSON(thread)
		check("req.json()", err)
		_, err = parseQuery(query)
		check("req.query", err)
	})
}
