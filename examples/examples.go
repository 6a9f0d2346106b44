// Package examples embeds the example applications, used by `serve --demo`, tests and
// benchmarks. Each is a directory of files as they are stored: modules, templates, static
// files, keyed by tree path.
package examples

import (
	"embed"
	"fmt"
	"io/fs"
	"slices"
	"strings"
)

//go:embed all:demo all:erp all:guestbook
var apps embed.FS

// Names returns the names of the example apps, sorted: "demo" (a greeting page), "erp"
// (an order-to-cash application, see erp/app.star) and "guestbook" (the first example of
// the README: pages, a form, sessions, a JSON API and tests, see guestbook/app.star).
func Names() []string {
	entries, _ := apps.ReadDir(".")
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	return names
}

// App returns the files of the example app name, keyed by tree path. It fails naming the
// examples there are when there is none of that name.
func App(name string) (map[string][]byte, error) {
	if !slices.Contains(Names(), name) {
		return nil, fmt.Errorf("no example app %q (there are: %s)", name, strings.Join(Names(), ", "))
	}
	files := map[string][]byte{}
	err := fs.WalkDir(apps, name, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := apps.ReadFile(p)
		if err != nil {
			return err
		}
		files[strings.TrimPrefix(p, name+"/")] = b
		return nil
	})
	if err != nil {
		return nil, err
	}
	return files, nil
}

// Demo returns the files of the demo app, keyed by tree path.
func Demo() map[string][]byte {
	files, err := App("demo")
	if err != nil {
		panic(err) // embedded at build time: cannot be missing
	}
	return files
}
