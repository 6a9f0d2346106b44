// Package apps holds the applications the benchmarks serve, each written once per server
// compared: Starlark for Starbase (from the store, and from files loaded once), Go for plain
// net/http, and Python for Flask. The versions do the same work, so that the benchmarks
// compare servers, not programs:
//
//   - GET /hello/{name} answers the small JSON {"message": "Hello, NAME!", "version": V}.
//   - GET /table answers an HTML page: a 100-row table whose rows are formatted per request
//     with helpers of three modules (row data, HTML escaping, money formatting).
//   - GET /render answers the same 100 rows rendered per request from a stored template
//     with a layout (a page that includes the layout's header and footer): render() of an
//     html/template for Starbase and plain Go, render_template of the equivalent Jinja2
//     files (a base page the table page extends, compiled once and cached by Flask) for
//     Flask. The rows' prices are formatted once, when the app loads; the template escapes
//     the names.
//
// V, the app's version, is the number a deploy changes: a benchmark that pushes version V
// can tell from a response's body which code produced it, and from its Starbase-Commit
// header which commit the node says it ran.
//
// The package also generates the larger Starlark apps of the reload and cold-start
// benchmarks (see Layered).
package apps

import (
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"strconv"
	"strings"
)

// Rows is the number of rows of the /table page.
const Rows = 100

// Starlark returns the Starlark app at version, keyed by tree path.
func Starlark(version int) map[string][]byte {
	return map[string][]byte{
		"app.star":       []byte(fmt.Sprintf(appStar, version)),
		"lib/rows.star":  []byte(rowsStar),
		"lib/html.star":  []byte(htmlStar),
		"lib/money.star": []byte(moneyStar),

		"templates/header.html": []byte(headerHTML),
		"templates/footer.html": []byte(footerHTML),
		"templates/table.html":  []byte(tableHTML),
	}
}

// The templates of /render for html/template: the page includes the layout's parts by
// path, as render() wants layouts shared (runtime/render).
const (
	headerHTML = `<!doctype html>
<html><head><title>{{.title}}</title></head>
<body>
`
	footerHTML = `</body></html>` // Jinja2 drops a template's last newline: so do these
	tableHTML  = `{{template "templates/header.html" .}}<table>
<tr><th>#</th><th>Name</th><th>Price</th></tr>
{{range .rows}}<tr><td>{{.id}}</td><td>{{.name}}</td><td class="num">{{.price}}</td></tr>
{{end}}</table>
{{template "templates/footer.html" .}}`
)

// FlaskTemplates returns the Jinja2 templates of the Flask app, keyed by their path
// relative to app.py: the same page as the html/template one, with the layout as a base
// page that the table page extends.
func FlaskTemplates() map[string]string {
	return map[string]string{
		"templates/base.html": `<!doctype html>
<html><head><title>{{ title }}</title></head>
<body>
{% block content %}{% endblock %}</body></html>
`,
		"templates/table.html": `{% extends "base.html" %}{% block content %}<table>
<tr><th>#</th><th>Name</th><th>Price</th></tr>
{% for r in rows %}<tr><td>{{ r.id }}</td><td>{{ r.name }}</td><td class="num">{{ r.price }}</td></tr>
{% endfor %}</table>
{% endblock %}`,
	}
}

const appStar = `# The benchmark app: a small JSON handler and a page built with three modules.
load("lib/rows.star", "ROWS")
load("lib/html.star", "escape")
load("lib/money.star", "money")

VERSION = %d

# The rows of /render, with their prices formatted once.
PRICED = [{"id": r["id"], "name": r["name"], "price": money(r["cents"])} for r in ROWS]

def hello(req):
    return {"message": "Hello, " + req.params["name"] + "!", "version": VERSION}

def row(r):
    return "<tr><td>" + str(r["id"]) + "</td><td>" + escape(r["name"]) + "</td><td class=\"num\">" + money(r["cents"]) + "</td></tr>\n"

def table(req):
    out = ["<!doctype html>\n<title>Price list</title>\n<table>\n<tr><th>#</th><th>Name</th><th>Price</th></tr>\n"]
    for r in ROWS:
        out.append(row(r))
    out.append("</table>\n")
    return "".join(out)

def rendered(req):
    return render("templates/table.html", title = "Price list", rows = PRICED)

routes = {
    "GET /hello/{name}": hello,
    "GET /table": table,
    "GET /render": rendered,
}
`

const rowsStar = `# The rows of the price list, computed once when the module loads.
ROWS = [{"id": i, "name": "Item %d <%s & co>" % (i, "abcdefghij"[i % 10]), "cents": i * 12345 % 1000000} for i in range(1, 101)]
`

const htmlStar = `# HTML escaping of text.
def escape(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&quot;")
`

const moneyStar = `# Money formatting: cents as dollars with thousands separators.
def money(cents):
    dollars = str(cents // 100)
    groups = []
    for _ in range(len(dollars)):
        if len(dollars) <= 3:
            break
        groups.insert(0, dollars[-3:])
        dollars = dollars[:-3]
    groups.insert(0, dollars)
    c = str(cents % 100)
    if len(c) < 2:
        c = "0" + c
    return "$" + ",".join(groups) + "." + c
`

// Go returns the plain net/http version of the app at version.
func Go(version int) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /hello/{name}", func(w http.ResponseWriter, r *http.Request) {
		b, _ := json.Marshal(hello{Message: "Hello, " + r.PathValue("name") + "!", Version: version})
		w.Header().Set("Content-Type", "application/json")
		w.Write(b)
	})
	mux.HandleFunc("GET /table", func(w http.ResponseWriter, r *http.Request) {
		var b strings.Builder
		b.WriteString("<!doctype html>\n<title>Price list</title>\n<table>\n<tr><th>#</th><th>Name</th><th>Price</th></tr>\n")
		for _, row := range goRows {
			b.WriteString("<tr><td>")
			b.WriteString(strconv.Itoa(row.id))
			b.WriteString("</td><td>")
			b.WriteString(htmlEscaper.Replace(row.name))
			b.WriteString("</td><td class=\"num\">")
			b.WriteString(money(row.cents))
			b.WriteString("</td></tr>\n")
		}
		b.WriteString("</table>\n")
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(b.String()))
	})
	mux.HandleFunc("GET /render", func(w http.ResponseWriter, r *http.Request) {
		var b strings.Builder
		if err := goTemplates.ExecuteTemplate(&b, "templates/table.html", map[string]any{"title": "Price list", "rows": goPriced}); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(b.String()))
	})
	return mux
}

// goTemplates are the templates of /render, parsed once.
var goTemplates = func() *template.Template {
	t := template.New("")
	for name, text := range map[string]string{"templates/header.html": headerHTML, "templates/footer.html": footerHTML, "templates/table.html": tableHTML} {
		template.Must(t.New(name).Parse(text))
	}
	return t
}()

// goPriced are the rows of /render, with their prices formatted once.
var goPriced = func() []map[string]any {
	rows := make([]map[string]any, 0, Rows)
	for _, r := range goRows {
		rows = append(rows, map[string]any{"id": r.id, "name": r.name, "price": money(r.cents)})
	}
	return rows
}()

type hello struct {
	Message string `json:"message"`
	Version int    `json:"version"`
}

type goRow struct {
	id    int
	name  string
	cents int
}

// goRows are the rows of rows.star; like a module's globals they are computed once.
var goRows = func() []goRow {
	rows := make([]goRow, 0, Rows)
	for i := 1; i <= Rows; i++ {
		rows = append(rows, goRow{id: i, name: fmt.Sprintf("Item %d <%c & co>", i, "abcdefghij"[i%10]), cents: i * 12345 % 1000000})
	}
	return rows
}()

var htmlEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;")

func money(cents int) string {
	dollars := strconv.Itoa(cents / 100)
	var groups []string
	for len(dollars) > 3 {
		groups = append([]string{dollars[len(dollars)-3:]}, groups...)
		dollars = dollars[:len(dollars)-3]
	}
	groups = append([]string{dollars}, groups...)
	c := strconv.Itoa(cents % 100)
	if len(c) < 2 {
		c = "0" + c
	}
	return "$" + strings.Join(groups, ",") + "." + c
}

// Flask is the Flask version of the app, as the module app.py (the WSGI app is app.app).
func Flask(version int) string {
	return fmt.Sprintf(flaskApp, version)
}

const flaskApp = `# The benchmark app for Flask: the same logic as the Starlark and Go versions.
from flask import Flask, render_template

app = Flask(__name__)
VERSION = %d

ROWS = [{"id": i, "name": "Item %%d <%%s & co>" %% (i, "abcdefghij"[i %% 10]), "cents": i * 12345 %% 1000000} for i in range(1, 101)]


def escape(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def money(cents):
    dollars = str(cents // 100)
    groups = []
    while len(dollars) > 3:
        groups.insert(0, dollars[-3:])
        dollars = dollars[:-3]
    groups.insert(0, dollars)
    c = str(cents %% 100)
    if len(c) < 2:
        c = "0" + c
    return "$" + ",".join(groups) + "." + c


def row(r):
    return "<tr><td>" + str(r["id"]) + "</td><td>" + escape(r["name"]) + "</td><td class=\"num\">" + money(r["cents"]) + "</td></tr>\n"


@app.get("/hello/<name>")
def hello(name):
    return {"message": "Hello, " + name + "!", "version": VERSION}


@app.get("/table")
def table():
    out = ["<!doctype html>\n<title>Price list</title>\n<table>\n<tr><th>#</th><th>Name</th><th>Price</th></tr>\n"]
    for r in ROWS:
        out.append(row(r))
    out.append("</table>\n")
    return "".join(out)


PRICED = [{"id": r["id"], "name": r["name"], "price": money(r["cents"])} for r in ROWS]


@app.get("/render")
def rendered():
    return render_template("table.html", title="Price list", rows=PRICED)
`
