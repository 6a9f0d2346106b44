package render_test

import (
	"context"
	"encoding/hex"
	"fmt"
	"html/template"
	"log/slog"
	"maps"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.starlark.net/starlark"

	"github.com/starbase/starbase/runtime"
	"github.com/starbase/starbase/runtime/render"
	"github.com/starbase/starbase/runtime/stdlib"
)

// renderWithToken runs app.star's page(), with render and the standard library, with
// token as every request's CSRF token (none if ""); calls counts the hook's calls.
func renderWithToken(t *testing.T, files map[string]string, token string) (html string, calls int, err error) {
	t.Helper()
	opts := render.Options{}
	if token != "" {
		opts.CSRFToken = func(th *starlark.Thread) (string, error) {
			if th == nil {
				t.Error("the CSRF hook was called without the request's thread")
			}
			calls++
			return token, nil
		}
	}
	r := render.New(opts)
	names := stdlib.Predeclared()
	maps.Copy(names, r.Predeclared())
	l, err := runtime.New(runtime.Options{Predeclared: names, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	snap := snapshot(files)
	globals, err := l.Load(context.Background(), snap, "app.star")
	if err != nil {
		t.Fatal(err)
	}
	v, err := l.Call(context.Background(), snap, globals["page"].(starlark.Callable), nil, nil, runtime.CallOptions{Now: time.Now()})
	if err != nil {
		return "", calls, err
	}
	return string(v.(starlark.String)), calls, nil
}

func TestRender_CSRFFieldIsTheRequestsToken(t *testing.T) {
	files := map[string]string{
		"app.star":            "def page():\n    return render(\"templates/form.html\", items = [1, 2])\n",
		"templates/form.html": `<form method="post">{{csrf_field}}{{range .items}}<a href="/x?t={{csrf_token}}">{{csrf_token}}</a>{{end}}</form>`,
		"templates/none.html": `<p>no form</p>`,
	}
	got, calls, err := renderWithToken(t, files, "tok-en_1+/=")
	// The token is escaped for where it is written: in a URL's query, + would be a space.
	field := `<input type="hidden" name="csrf_token" value="tok-en_1+/=">`
	link := `<a href="/x?t=tok-en_1%2b%2f%3d">tok-en_1&#43;/=</a>`
	if want := `<form method="post">` + field + link + link + `</form>`; err != nil || got != want || calls != 1 {
		t.Errorf("with a token: render = %q, %v, %d calls of the hook\nwant %q and one call", got, err, calls, want)
	}

	files["app.star"] = "def page():\n    return render(\"templates/none.html\")\n"
	if _, calls, err := renderWithToken(t, files, "tok"); err != nil || calls != 0 {
		t.Errorf("a page without a form: %v, %d calls of the hook, want none (the token is asked for only when used)", err, calls)
	}

	files["app.star"] = "def page():\n    return render(\"templates/form.html\", items = [])\n"
	if _, _, err := renderWithToken(t, files, ""); err == nil || !strings.Contains(err.Error(), "CSRF tokens are not available here") ||
		!strings.Contains(err.Error(), "templates/form.html:1:") {
		t.Errorf("without the hook: %v, want an error at its place in the template, saying tokens are not available", err)
	}
	if got, _, err := renderWithToken(t, files, `a"b<`); err != nil || !strings.Contains(got, `value="a&#34;b&lt;"`) {
		t.Errorf("a token needing escaping: %q, %v, want it escaped in the field", got, err)
	}
}

// TestRender_CSRFTokenIsAValueOfItsRenderInEveryContext attacks the way templates get the
// token. Whatever a template does with csrf_token, it gets the request's token, escaped as
// html/template escapes the same string passed as data (the independent answer); and data
// holding whatever another render showed is written as it is, never turned into the
// viewer's token. Before, csrf_token returned a word fixed for the process, replaced in the
// output: {{printf "%x" csrf_token}} showed that word to anyone, and a comment holding it
// became the token of every viewer of the page.
func TestRender_CSRFTokenIsAValueOfItsRenderInEveryContext(t *testing.T) {
	const token = "tok-en_1+/="
	uses := `<p>{{slice csrf_token 0 4}}|{{printf "%x" csrf_token}}|{{printf "%q" csrf_token}}|{{len csrf_token}}|{{if eq csrf_token "tok-en_1+/="}}equal{{end}}</p>` +
		`<script>var t = {{csrf_token}}; var s = "{{csrf_token}}";</script>` +
		`<a href="/x?t={{csrf_token}}" title="{{csrf_token}}" onclick="f({{csrf_token}})">{{csrf_token}}</a>` +
		`<style>p { content: "{{csrf_token}}" }</style><textarea>{{csrf_token}}</textarea>`
	data := strings.ReplaceAll(uses, "csrf_token", ".tok")
	files := map[string]string{
		"app.star":            "def page():\n    return render(\"templates/csrf.html\") + \"~SPLIT~\" + render(\"templates/data.html\", tok = \"" + token + "\")\n",
		"templates/csrf.html": uses,
		"templates/data.html": data,
	}
	got, _, err := renderWithToken(t, files, token)
	if err != nil {
		t.Fatal(err)
	}
	withCSRF, withData, _ := strings.Cut(got, "~SPLIT~")
	if withCSRF != withData || !strings.Contains(withCSRF, "<p>tok-|"+hex.EncodeToString([]byte(token))+"|") || !strings.Contains(withCSRF, "|11|equal</p>") {
		t.Errorf("csrf_token in every context:\n got %s\nwant %s (the token passed as data)", withCSRF, withData)
	}

	// An attacker shows their own page's token transformed, and posts what they read in a
	// comment that a victim's page shows next to the victim's form.
	files = map[string]string{
		"app.star":            "def page():\n    return render(\"templates/leak.html\")\n",
		"templates/leak.html": `{{printf "%x" csrf_token}}`,
	}
	leaked, _, err := renderWithToken(t, files, "attacker-token")
	if err != nil {
		t.Fatal(err)
	}
	word, err := hex.DecodeString(leaked)
	if err != nil {
		t.Fatalf("the leak page wrote %q, not hex: %v", leaked, err)
	}
	const victim = "victim-secret-token"
	for _, comment := range []string{string(word), string(word) + "f", string(word[:len(word)-1]) + "f"} {
		files = map[string]string{
			"app.star":            "def page():\n    return render(\"templates/page.html\", comment = " + strconv.Quote(comment) + ")\n",
			"templates/page.html": `<p>{{.comment}}</p><a href="/c?q={{.comment}}">c</a><form method="post">{{csrf_field}}</form>`,
		}
		page, _, err := renderWithToken(t, files, victim)
		if err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(page, victim); n != 1 || !strings.Contains(page, "<p>"+template.HTMLEscapeString(comment)+"</p>") {
			t.Errorf("the victim's page with comment %q: %q\nwant the victim's token once (in the form) and the comment as it is", comment, page)
		}
	}
}

// TestRender_ConcurrentRendersEachWriteTheirOwnToken renders a page with the token in 100
// places from 8 goroutines at once on one Renderer, each request with its own token:
// every page holds one token only, and no two pages the same.
func TestRender_ConcurrentRendersEachWriteTheirOwnToken(t *testing.T) {
	var next atomic.Int64
	r := render.New(render.Options{CSRFToken: func(*starlark.Thread) (string, error) {
		return fmt.Sprintf("token%d", next.Add(1)), nil
	}})
	l, err := runtime.New(runtime.Options{Predeclared: r.Predeclared(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	snap := snapshot(map[string]string{
		"app.star":         "def page():\n    return render(\"templates/t.html\", items = range(99))\n",
		"templates/t.html": `{{csrf_token}}{{range .items}} {{csrf_token}}{{end}}`,
	})
	globals, err := l.Load(context.Background(), snap, "app.star")
	if err != nil {
		t.Fatal(err)
	}
	const goroutines, renders = 8, 25
	pages := make(chan string, goroutines*renders)
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for range renders {
				v, err := l.Call(context.Background(), snap, globals["page"].(starlark.Callable), nil, nil, runtime.CallOptions{Now: time.Now()})
				if err != nil {
					t.Error(err)
					return
				}
				pages <- string(v.(starlark.String))
			}
		})
	}
	wg.Wait()
	close(pages)
	seen := map[string]bool{}
	for page := range pages {
		tokens := strings.Fields(page)
		if len(tokens) != 100 || strings.Count(page, tokens[0]+" ") != 99 || seen[tokens[0]] {
			t.Fatalf("a page holds %q: want one token, its own, 100 times", page)
		}
		seen[tokens[0]] = true
	}
	if len(seen) != goroutines*renders {
		t.Errorf("%d pages, want %d", len(seen), goroutines*renders)
	}
}

func TestRender_HelpersRefuseWhatTheyCannotUse(t *testing.T) {
	for tmpl, want := range map[string]string{
		`{{url_query "/s" "q"}}`: "url_query: 1 arguments after the base URL, want key and value pairs",
		`{{date .n}}`:            "date: got int64, want a time",
		`{{date .t "a" "b"}}`:    "date: 2 layouts, want at most one",
		`{{date .t "` + strings.Repeat("2", 300) + `"}}`: "date: a layout of 300 bytes, over the limit of 256",
	} {
		files := map[string]string{
			"app.star":         "def page():\n    return render(\"templates/t.html\", n = 1, t = time.time(year = 2000))\n",
			"templates/t.html": tmpl,
		}
		_, _, err := renderWithToken(t, files, "")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: render = %v, want an error containing %q", tmpl, err, want)
		}
	}
	if _, problems := render.Parse(map[string][]byte{"templates/t.html": []byte(`{{url_nope 1}}{{url_path 1}}`)}); len(problems) != 1 ||
		!strings.Contains(problems[0].Error(), `function "url_nope" not defined`) {
		t.Errorf("Parse of an unknown function = %v, want it refused (and the helpers known)", problems)
	}
}
