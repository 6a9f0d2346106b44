package server_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/starbase/starbase/server"
	"github.com/starbase/starbase/server/servertest"
)

var pagesApp = map[string]string{
	"app.star": `
def gone(req):
    abort(410, "that <item> is gone")

def broken(req):
    return 1 // 0

def page(req):
    return render("templates/page.html", created = time.time(year = 2026, month = 12, day = 4, hour = 15, minute = 4),
                  id = "a/b c", q = "red shoes", query = req.query)

def bad(req):
    return render("templates/bad.html", items = [1, 2])

routes = {"GET /gone": gone, "GET /broken": broken, "GET /page": page, "GET /bad": bad}
`,
	"templates/errors/404.html": `<h1>Lost: {{.path}}</h1><p>{{.status}} {{.message}}</p>`,
	"templates/errors/410.html": `<h1>Gone</h1><p>{{.message}}</p>`,
	"templates/errors/500.html": `<h1>Oops</h1><p>error {{.error_id}}</p>`,
	"templates/page.html": `<a href="{{url_path "items" .id "edit"}}">edit</a> <a href="{{url_query "/search" "q" .q "page" 2}}">find</a>
{{date .created}} {{date .created "Jan 2, 2006 15:04"}} {{.created.Year}} {{.query.x}}`,
	"templates/bad.html": "<ul>\n{{range .items}}<li>{{.}}</li>{{end}}\n<li>{{index .items 5}}</li></ul>",
}

func TestAppPages_UnmatchedAbortAndFailureRenderTheAppsOwnPage(t *testing.T) {
	n := servertest.Start(t, server.Config{})
	n.Deploy(t, pagesApp)
	for _, tc := range []struct {
		path   string
		accept string
		status int
		want   string
	}{
		{"/nowhere", "text/html", 404, "<h1>Lost: /nowhere</h1><p>404 Not Found</p>"},
		{"/nowhere", "", 404, "<h1>Lost: /nowhere</h1><p>404 Not Found</p>"},
		{"/gone", "text/html", 410, "<h1>Gone</h1><p>that &lt;item&gt; is gone</p>"},
		{"/gone", "application/json", 410, `"status": 410`},
		{"/broken", "text/html", 500, "<h1>Oops</h1><p>error "},
		{"/broken", "application/json", 500, `"error": "internal error"`},
	} {
		req, _ := http.NewRequest("GET", n.URL+tc.path, nil)
		if tc.accept != "" {
			req.Header.Set("Accept", tc.accept)
		}
		resp, body := n.Do(t, req)
		if resp.StatusCode != tc.status || !strings.Contains(body, tc.want) {
			t.Errorf("GET %s (Accept %q) = %d %q, want %d with %q", tc.path, tc.accept, resp.StatusCode, body, tc.status, tc.want)
		}
	}
	// A wrong method has no page of the app's (no 405.html): the platform's answer.
	req, _ := http.NewRequest("DELETE", n.URL+"/gone", nil)
	if resp, body := n.Do(t, req); resp.StatusCode != 405 || !strings.Contains(body, "Method Not Allowed") {
		t.Errorf("DELETE /gone = %d %q, want the platform's 405", resp.StatusCode, body)
	}
}

func TestRender_HelpersBuildURLsAndDates(t *testing.T) {
	n := servertest.Start(t, server.Config{})
	n.Deploy(t, pagesApp)
	status, _, body := n.Get(t, "/page?x=1&x=2")
	want := `<a href="/items/a%2Fb%20c/edit">edit</a> <a href="/search?q=red&#43;shoes&amp;page=2">find</a>
2026-12-04 Dec 4, 2026 15:04 2026 1`
	if status != 200 || body != want {
		t.Errorf("GET /page = %d\n%s\nwant\n%s", status, body, want)
	}
}

func TestRender_ExecutionErrorNamesTemplateLineAndCommit(t *testing.T) {
	n := servertest.Start(t, server.Config{Dev: true})
	commit := n.Deploy(t, pagesApp)
	status, _, body := n.Get(t, "/bad")
	for _, want := range []string{"templates/bad.html:3", commit[:12], "index out of range: 5"} {
		if status != 500 || !strings.Contains(body, want) {
			t.Errorf("GET /bad = %d %q, want 500 naming %q", status, body, want)
		}
	}
}
