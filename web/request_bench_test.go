package web

import (
	"net/http/httptest"
	"testing"

	"go.starlark.net/starlark"
)

// BenchmarkRequest_SmallFieldsOfARun reads the fields a handler reads on most requests
// (method, path, params, id) once each, as one run on its thread does, on a request
// whose fields are already built: what a handler pays per request to read them.
func BenchmarkRequest_SmallFieldsOfARun(b *testing.B) {
	r := httptest.NewRequest("GET", "/items/7", nil)
	r.SetPathValue("id", "7")
	var req Request
	req.Set(Incoming{HTTP: r, ID: "r-1", Params: []string{"id"}})
	names := []string{"method", "path", "params", "id"}
	for _, name := range names {
		if _, err := req.Attr(name); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		req.SetThread(new(starlark.Thread))
		for _, name := range names {
			if _, err := req.Attr(name); err != nil {
				b.Fatal(err)
			}
		}
	}
}
