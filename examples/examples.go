// Package examples embeds the example applications, used by `serve --demo`, tests and
// benchmarks.
package examples

import (
	"embed"
	"io/fs"
	"strings"
)

//go:embed all:demo
var demo embed.FS

// Demo returns the files of the demo app, keyed by tree path.
func Demo() map[string][]byte {
	files := map[string][]byte{}
	fs.WalkDir(demo, "demo", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := demo.ReadFile(p)
		if err != nil {
			return err
		}
		files[strings.TrimPrefix(p, "demo/")] = b
		return nil
	})
	return files
}
