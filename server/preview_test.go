package server_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/starbase/starbase/api"
	"github.com/starbase/starbase/server"
	"github.com/starbase/starbase/server/servertest"
)

// A counter both commits read: the preview runs against the live data.
const previewModel = `Note = model("Note", fields = {"text": ""}, indexes = ["text"])
`

func TestPreview_ServesAnyCommitToDevelopersOnlyWithoutAffectingOthers(t *testing.T) {
	n := servertest.Start(t, server.Config{})
	ctx := context.Background()
	live := n.Deploy(t, map[string]string{
		"models.star": previewModel,
		"app.star": `load("models.star", "Note")
def put(req):
    db.put(Note(text = req.params["text"]))
    return "v1 stored"
def show(req):
    return "v1 " + req.path
routes = {"POST /notes/{text}": put, "GET /{path...}": show}
`,
	})
	preview, err := n.Client.Push(ctx, api.PushRequest{Ref: "preview", Force: true, Files: servertest.Files(map[string]string{
		"models.star": previewModel,
		"app.star": `load("models.star", "Note")
def show(req):
    notes = db.find(Note, text = "live")
    return "v2 %s notes=%d auth=%s cookie=%s" % (req.path, len(notes), req.headers.get("authorization", "none"), req.headers.get("cookie", "none"))
routes = {"GET /{path...}": show}
`,
	})})
	if err != nil {
		t.Fatal(err)
	}
	// Data written through the live commit.
	req, _ := http.NewRequest("POST", n.URL+"/notes/live", nil)
	if resp, body := n.Do(t, req); resp.StatusCode != 200 || body != "v1 stored" {
		t.Fatalf("POST /notes/live = %d %q", resp.StatusCode, body)
	}
	dev, err := n.Client.CreateToken(ctx, "dev", "developer")
	if err != nil {
		t.Fatal(err)
	}
	reader, err := n.Client.CreateToken(ctx, "rita", "reader")
	if err != nil {
		t.Fatal(err)
	}
	get := func(path, token string) (*http.Response, string) {
		req, _ := http.NewRequest("GET", n.URL+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		req.Header.Set("Cookie", "starbase-session=x; theme=dark")
		return n.Do(t, req)
	}

	path := "/-/preview/" + preview.Commit + "/reports/q1"
	if resp, _ := get(path, ""); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("preview without a credential = %d, want 401", resp.StatusCode)
	}
	if resp, _ := get(path, reader.Secret); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("preview as a reader = %d, want 403", resp.StatusCode)
	}
	resp, body := get(path, dev.Secret)
	if want := "v2 /reports/q1 notes=1 auth=none cookie=theme=dark"; resp.StatusCode != 200 || body != want {
		t.Fatalf("preview as a developer = %d %q, want %q", resp.StatusCode, body, want)
	}
	if resp.Header.Get("Starbase-Commit") != preview.Commit || resp.Header.Get(api.MarkerHeader) != "" {
		t.Fatalf("preview answer: Starbase-Commit %q, marker %q; want the preview's commit and no platform marker",
			resp.Header.Get("Starbase-Commit"), resp.Header.Get(api.MarkerHeader))
	}
	if resp, body := get("/-/preview/"+preview.Commit[:12]+"/", dev.Secret); resp.StatusCode != 200 || !strings.HasPrefix(body, "v2 / ") {
		t.Fatalf("preview by prefix = %d %q", resp.StatusCode, body)
	}
	if resp, _ := get("/-/preview/"+strings.Repeat("0", 64)+"/", dev.Secret); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("preview of an unknown commit = %d, want 404", resp.StatusCode)
	}
	// Everyone else is still served the live commit.
	if status, h, body := n.Get(t, "/reports/q1"); status != 200 || body != "v1 /reports/q1" || h.Get("Starbase-Commit") != live {
		t.Fatalf("GET /reports/q1 during a preview = %d %q from %s, want v1 from %s", status, body, h.Get("Starbase-Commit"), live)
	}
}
