// Package apps holds the applications the benchmarks serve, each written once per server
// compared: Starlark for Starbase (from the store, and from files loaded once), Go for plain
// net/http, and Python for Flask. The versions do the same work, so that the benchmarks
// compare servers, not programs:
//
//   - GET /hello/{name} answers the small JSON {"message": "Hello, NAME!", "version": V}.
//   - GET /table answers an HTML page: a 100-row table whose rows are formatted per request
//     with helpers of three modules (row data, HTML escaping, money formatting).
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
	}
}

const appStar = `# The benchmark app: a small JSON handler and a page built with three modules.
load("lib/rows.star", "ROWS")
load("lib/html.star", "escape")
load("lib/money.star", "money")

VERSION = %d

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

routes = {
    "GET /hello/{name}": hello,
    "GET /table": table,
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
	return mux
}

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
from flask import Flask

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
`
