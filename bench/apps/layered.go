package apps

import (
	"fmt"
	"strings"
)

// Layered returns a Starlark app of n modules (n >= 4) in three layers under one shared
// module, the shape of a real app whose modules all import a common library:
//
//	app.star             loads core.star and every page
//	pages/pNN.star       n/20 pages; each loads core.star and about 19 leaves
//	leaves/mNNNN.star    the rest; each loads core.star only
//	core.star            loaded by every other module
//
// Every module does a little work at its top level (it builds a 20-entry dict). The
// handler GET /hello/{name} answers {"message": ..., "version": version, "total": T}, T
// computed at load time from every page.
//
// The numbers change what a deploy re-runs: a different leafSeed changes the content of
// LeafPath, whose re-run re-runs its page and app.star (3 modules); a different coreSeed
// changes core.star, which every module loads (n modules).
func Layered(n, version, leafSeed, coreSeed int) map[string][]byte {
	if n < 4 {
		n = 4
	}
	pages := max(1, n/20)
	leaves := n - 2 - pages
	files := make(map[string][]byte, n)
	files["core.star"] = []byte(fmt.Sprintf(`# The module every other module loads.
SEED = %d

def core(name):
    return len(name) + SEED
`, coreSeed))

	leafOf := make([][]int, pages)
	for i := range leaves {
		leafOf[i%pages] = append(leafOf[i%pages], i)
	}
	for i := range leaves {
		seed := i
		if leafPath(i) == LeafPath {
			seed = leafSeed
		}
		files[leafPath(i)] = []byte(fmt.Sprintf(`load("core.star", "core")

NAME = "m%04d"
TABLE = {"k%%d" %% i: i * %d for i in range(20)}

def value():
    return core(NAME) + len(TABLE)
`, i, seed))
	}
	var app strings.Builder
	app.WriteString("load(\"core.star\", \"core\")\n")
	for p := range pages {
		var page strings.Builder
		page.WriteString("load(\"core.star\", \"core\")\n")
		var sum []string
		for j, leaf := range leafOf[p] {
			fmt.Fprintf(&page, "load(%q, v%d = \"value\")\n", leafPath(leaf), j)
			sum = append(sum, fmt.Sprintf("v%d()", j))
		}
		if len(sum) == 0 {
			sum = append(sum, "0")
		}
		fmt.Fprintf(&page, "\nTABLE = {\"p%%d\" %% i: i for i in range(20)}\n\ndef total():\n    return core(\"p%02d\") + %s\n", p, strings.Join(sum, " + "))
		files[fmt.Sprintf("pages/p%02d.star", p)] = []byte(page.String())
		fmt.Fprintf(&app, "load(\"pages/p%02d.star\", t%d = \"total\")\n", p, p)
	}
	var totals []string
	for p := range pages {
		totals = append(totals, fmt.Sprintf("t%d()", p))
	}
	fmt.Fprintf(&app, `
VERSION = %d
TOTAL = core("app") + %s

def hello(req):
    return {"message": "Hello, " + req.params["name"] + "!", "version": VERSION, "total": TOTAL}

routes = {"GET /hello/{name}": hello}
`, version, strings.Join(totals, " + "))
	files["app.star"] = []byte(app.String())
	return files
}

// LeafPath is the leaf module whose content Layered's leafSeed changes.
const LeafPath = "leaves/m0000.star"

func leafPath(i int) string { return fmt.Sprintf("leaves/m%04d.star", i) }
