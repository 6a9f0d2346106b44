package server_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/starbase/starbase/code"
	"github.com/starbase/starbase/server"
)

// Static files and form parsing, through Server.ServeHTTP in process (see bench_test.go).

var webBenchFiles = map[string][]byte{
	"app.star": []byte(`
def form(req):
    f = req.form()
    return {"n": len(f), "tags": len(f.getlist("tag"))}

routes = {"POST /form": form}
`),
	"static/app.css": []byte(strings.Repeat("body { color: #222; margin: 0 auto; }\n", 540)), // 20 KiB
}

func webBenchServer(b *testing.B) *server.Server {
	b.Helper()
	srv, err := server.NewStatic(context.Background(), server.Config{Node: "bench", Logger: discardLogger()}, webBenchFiles)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { srv.Close() })
	return srv
}

// BenchmarkStatic_File serves a 20 KiB stylesheet from the tree.
func BenchmarkStatic_File(b *testing.B) { benchServe(b, webBenchServer(b), "/static/app.css") }

// BenchmarkStatic_NotModified revalidates it: 304.
func BenchmarkStatic_NotModified(b *testing.B) {
	h := webBenchServer(b)
	etag := `"` + string(code.HashBlob(webBenchFiles["static/app.css"])) + `"`
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodGet, "/static/app.css", nil)
		req.Header.Set("If-None-Match", etag)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusNotModified {
			b.Fatalf("got status %d, want 304", rec.Code)
		}
	}
}

// BenchmarkRequest_Form posts a urlencoded form of 20 fields to a handler that parses it.
func BenchmarkRequest_Form(b *testing.B) {
	h := webBenchServer(b)
	form := url.Values{}
	for i := range 10 {
		form.Add("field"+string(rune('a'+i)), "some value")
		form.Add("tag", "t")
	}
	body := form.Encode()
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/form", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK || rec.Body.String() != `{"n":11,"tags":10}` {
			b.Fatalf("got %d %s, want 200 with 11 keys and 10 tags", rec.Code, rec.Body)
		}
	}
}
