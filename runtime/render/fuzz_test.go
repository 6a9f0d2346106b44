package render_test

import (
	"testing"

	"github.com/starbase/starbase/runtime/render"
)

// FuzzParse parses any pair of templates, the text a push brings: Parse either accepts
// them or names, for each problem, one of the two files, and never panics nor recurses
// without bound (bounds.go refuses templates nesting too deeply before html/template
// walks them).
func FuzzParse(f *testing.F) {
	f.Add(`<p>{{.name}}</p>{{template "templates/b.html" .}}`, `{{define "x"}}{{range .}}{{.}}{{end}}{{end}}`)
	f.Add(`{{if .}}{{if .}}{{if .}}<a href="{{.}}">{{end}}{{end}}{{end}}`, `{{template "templates/a.html" .}}`)
	f.Add(`<script>var x = {{.}};</script>`, `{{block "y" .}}<b>{{.}}</b>{{end}}`)
	f.Fuzz(func(t *testing.T, a, b string) {
		files := map[string][]byte{"templates/a.html": []byte(a), "templates/b.html": []byte(b)}
		set, problems := render.Parse(files)
		if len(problems) == 0 && set == nil {
			t.Fatal("Parse accepted the templates but returned no set")
		}
		for _, p := range problems {
			if _, ok := files[p.Path]; !ok {
				t.Fatalf("problem %q names %q, not one of the files", p.Error(), p.Path)
			}
		}
	})
}
