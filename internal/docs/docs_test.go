package docs

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// root is the repository's root, from this package's directory.
const root = "../.."

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, path))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var (
	fuzzFunc    = regexp.MustCompile(`(?m)^func (Fuzz\w*)\(`)
	packageName = regexp.MustCompile(`(?m)^package (\w+)`)
	fuzzTime    = regexp.MustCompile(`fuzztime=\$\{FUZZTIME:-(\w+)\}`)
)

// fuzzTargets returns every fuzz target of the module as PACKAGE.FuzzX, PACKAGE being the
// name of the package under test.
func fuzzTargets(t *testing.T) []string {
	t.Helper()
	var targets []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "node_modules" || d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".") && path != root) {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		pkg := packageName.FindSubmatch(b)
		for _, m := range fuzzFunc.FindAllSubmatch(b, -1) {
			targets = append(targets, strings.TrimSuffix(string(pkg[1]), "_test")+"."+string(m[1]))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return targets
}

// SECURITY.md's fuzzing section lists every fuzz target and says for how long test.sh runs
// each.
func TestSecurityMD_ListsEveryFuzzTarget(t *testing.T) {
	doc := read(t, "SECURITY.md")
	targets := fuzzTargets(t)
	if len(targets) < 10 {
		t.Fatalf("found %d fuzz targets (%v); the walk of the repository is broken", len(targets), targets)
	}
	for _, target := range targets {
		if !strings.Contains(doc, "`"+target+"`") {
			t.Errorf("SECURITY.md does not list the fuzz target %s (as `%s`) in its fuzzing table", target, target)
		}
	}
	m := fuzzTime.FindStringSubmatch(read(t, "test.sh"))
	if m == nil {
		t.Fatal("test.sh sets no default fuzz time (fuzztime=${FUZZTIME:-...})")
	}
	if want := "`./test.sh` runs each for " + m[1]; !strings.Contains(doc, want) {
		t.Errorf("SECURITY.md does not say %q, test.sh's default fuzz time", want)
	}
}
