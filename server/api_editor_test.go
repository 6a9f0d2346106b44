package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/starbase/starbase/api"
	"github.com/starbase/starbase/client"
	"github.com/starbase/starbase/server"
	"github.com/starbase/starbase/server/servertest"
)

// apiCall makes an API request as the admin and decodes a 2xx answer into out.
func apiCall(t *testing.T, n *servertest.Node, method, path string, body, out any) int {
	t.Helper()
	var rd *bytes.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, err := http.NewRequest(method, n.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+servertest.AdminToken)
	resp, text := n.Do(t, req)
	if resp.StatusCode/100 == 2 && out != nil {
		if err := json.Unmarshal([]byte(text), out); err != nil {
			t.Fatalf("%s %s: %v in %q", method, path, err, text)
		}
	}
	return resp.StatusCode
}

func TestAPI_CheckReportsWhatPushRefusesAndCommitsNothing(t *testing.T) {
	n := servertest.Start(t, server.Config{})
	good := n.Deploy(t, goodApp)
	ctx := context.Background()

	var ok api.CheckResult
	if st := apiCall(t, n, "POST", "/-/api/check", api.CheckRequest{Files: servertest.Files(goodApp)}, &ok); st != 200 || !ok.OK || len(ok.Problems) != 0 {
		t.Fatalf("check of a good tree = %d %+v, want 200 and no problem", st, ok)
	}
	if len(ok.Tests) != 1 || !ok.Tests[0].Passed || ok.Tests[0].Name != "test_greet" {
		t.Fatalf("check tests = %+v, want test_greet passed", ok.Tests)
	}

	for name, change := range map[string]map[string]string{
		"undefined name": {"lib/greet.star": "def greet(who):\n    return hello + who\n"},
		"failing test":   {"lib/greet.star": "def greet(who):\n    return \"hi \" + who\n"},
		"bad template":   {"templates/page.html": "<ul>\n{{range .items}}<li>{{.}}</li>\n</ul>\n"},
		"several":        {"lib/greet.star": "def greet(who):\n    return hello + who\n", "app.star": "load(\"lib/nope.star\", \"x\")\nroutes = {}\n"},
	} {
		t.Run(name, func(t *testing.T) {
			files := servertest.Files(withChanges(change))
			var res api.CheckResult
			if st := apiCall(t, n, "POST", "/-/api/check", api.CheckRequest{Files: files}, &res); st != 200 || res.OK || len(res.Problems) == 0 {
				t.Fatalf("check = %d %+v, want 200 with problems", st, res)
			}
			_, err := n.Client.Push(ctx, api.PushRequest{Files: files, Expected: good})
			var ce *client.Error
			if !errors.As(err, &ce) || ce.Status != http.StatusUnprocessableEntity {
				t.Fatalf("push = %v, want 422", err)
			}
			if got, want := fmt.Sprint(res.Problems), fmt.Sprint(ce.Body.Problems); got != want {
				t.Errorf("check found\n  %s\npush was refused for\n  %s", got, want)
			}
			assertServes(t, n, good)
		})
	}
	commits, err := n.Client.Log(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(commits) != 1 || commits[0].ID != good {
		t.Fatalf("log after checks = %+v, want only the deployed commit", commits)
	}
	if st := apiCall(t, n, "POST", "/-/api/check", map[string]any{}, nil); st != http.StatusBadRequest {
		t.Fatalf("check without files = %d, want 400", st)
	}
}

func TestAPI_ErrorsListsRecentAppErrorsAndFindsOneByItsID(t *testing.T) {
	n := servertest.Start(t, server.Config{}) // production: the client sees only the id
	app := withChanges(map[string]string{"app.star": "def index(req):\n    return greet()\n\ndef greet():\n    return {}[\"missing\"]\n\nroutes = {\"GET /\": index}\n"})
	commit := n.Deploy(t, app)

	var ids []string
	for range 3 {
		status, _, body := n.Get(t, "/")
		m := regexp.MustCompile(`error id ([0-9a-f]{16})`).FindStringSubmatch(body)
		if status != 500 || m == nil || strings.Contains(body, "missing") {
			t.Fatalf("GET / = %d %q, want a 500 with only an error id", status, body)
		}
		ids = append(ids, m[1])
	}
	var list []api.AppError
	if st := apiCall(t, n, "GET", "/-/api/errors?n=2", nil, &list); st != 200 || len(list) != 2 || list[0].ID != ids[2] || list[1].ID != ids[1] {
		t.Fatalf("errors?n=2 = %d %+v, want the last two (%v), newest first", st, list, ids[1:])
	}
	var e api.AppError
	if st := apiCall(t, n, "GET", "/-/api/errors/"+ids[0], nil, &e); st != 200 {
		t.Fatalf("errors/%s = %d", ids[0], st)
	}
	last := e.Frames[len(e.Frames)-1]
	if e.ID != ids[0] || e.Commit != commit || e.Status != 500 || e.Path != "/" || !strings.Contains(e.Message, "missing") ||
		last.Path != "app.star" || last.Line != 5 || last.Commit != commit || last.Function != "greet" {
		t.Fatalf("error %s = %+v, want the key error at app.star:5 of %s", ids[0], e, commit)
	}
	if st := apiCall(t, n, "GET", "/-/api/errors/0123456789abcdef", nil, nil); st != http.StatusNotFound {
		t.Fatalf("an unknown error id answered %d, want 404", st)
	}
	if st := apiCall(t, n, "GET", "/-/api/errors?n=0", nil, nil); st != http.StatusBadRequest {
		t.Fatalf("errors?n=0 answered %d, want 400", st)
	}
}
