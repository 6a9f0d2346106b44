// Package ui is the web editor served by every node at /-/ui/: a single page that logs in
// with a token, browses and edits the stored tree, checks a pending change with the
// validation gate, commits it, and shows history, diffs, errors and status, all through the
// API under /-/api/. With serve --editor-addr it is also served on an origin of its own
// (server.Server.Editor), which serves no stored code, so that sessions there may act as
// admins (SECURITY.md, "Web sessions").
//
// The page is built from the sources in src/ with npm packages (CodeMirror 6, esbuild)
// pinned by package-lock.json, by `npm ci && npm run build` in this directory. The build
// output, dist/, is committed and embedded here, so that building and running the server
// needs no Node. test.sh rebuilds dist/ and fails if it differs from the committed one.
//
// src/predeclared.json lists the names stored code can use (the Starlark universe,
// runtime.Builtins and sandbox.Predeclared, with their attributes) for autocompletion; a test
// of this package regenerates it and fails if it differs, so it cannot drift from the
// sandbox.
package ui

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed dist
var dist embed.FS

// CSP is the Content-Security-Policy of the editor's files: scripts, styles, fonts and
// images only from the node itself, API calls only to the node, no framing, no plugins, no
// forms posting anywhere. The page's policy (pageCSP) adds one nonce, new for every load,
// which only the editor's own script and the <style> element CodeMirror makes carry: no
// other inline script or style runs.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; " +
	"img-src 'self' data:; font-src 'self'; manifest-src 'self'; " +
	"object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

// pageCSP returns the policy of one load of the page, with its nonce.
func pageCSP(nonce string) string {
	return strings.Replace(strings.Replace(CSP, "script-src 'self'", "script-src 'self' 'nonce-"+nonce+"'", 1),
		"style-src 'self'", "style-src 'self' 'nonce-"+nonce+"'", 1)
}

// noncePlaceholder is replaced in index.html by the nonce of each load.
const noncePlaceholder = "__CSP_NONCE__"

func newNonce() string {
	var b [18]byte
	rand.Read(b[:]) // never fails (crypto/rand)
	return base64.StdEncoding.EncodeToString(b[:])
}

// Prefix is the path under which the editor is served.
const Prefix = "/-/ui/"

// asset is one embedded file with its validator.
type asset struct {
	body        []byte
	etag        string
	contentType string
}

var assets = func() map[string]asset {
	out := map[string]asset{}
	err := fs.WalkDir(dist, "dist", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := dist.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		ct := mime.TypeByExtension(path.Ext(p))
		if ct == "" {
			ct = "application/octet-stream"
		}
		out[strings.TrimPrefix(p, "dist/")] = asset{body: b, etag: `"` + hex.EncodeToString(sum[:8]) + `"`, contentType: ct}
		return nil
	})
	if err != nil {
		panic("ui: reading the embedded build: " + err.Error()) // the build is part of the binary
	}
	return out
}()

// Version identifies the embedded build: a hash of every file of dist/. It changes whenever
// the editor does.
func Version() string {
	h := sha256.New()
	for _, name := range sortedNames() {
		if name == "predeclared.json" {
			continue // made from the sandbox when the binary starts, not part of the build
		}
		h.Write([]byte(name))
		h.Write([]byte{0})
		h.Write(assets[name].body)
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}

func sortedNames() []string {
	names := make([]string, 0, len(assets))
	for n := range assets {
		names = append(names, n)
	}
	for i := 1; i < len(names); i++ { // insertion sort: a handful of names
		for j := i; j > 0 && names[j] < names[j-1]; j-- {
			names[j], names[j-1] = names[j-1], names[j]
		}
	}
	return names
}

// ServeHTTP serves the editor: /-/ui/ is the page, /-/ui/NAME a file of the build. Every
// answer carries CSP (the page its own, with a fresh nonce, and is never cached); files are
// revalidated by ETag on every load (no-cache), so that a node serving a new build is seen
// at once.
func ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", CSP)
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		http.Error(w, "the editor's files are read with GET", http.StatusMethodNotAllowed)
		return
	}
	if r.URL.Path == "/-/ui" {
		http.Redirect(w, r, Prefix, http.StatusMovedPermanently)
		return
	}
	name := strings.TrimPrefix(r.URL.Path, Prefix)
	if name == "" {
		name = "index.html"
	}
	a, ok := assets[name]
	if !ok {
		http.Error(w, "no such file of the editor", http.StatusNotFound)
		return
	}
	if name == "index.html" {
		nonce := newNonce()
		h.Set("Content-Security-Policy", pageCSP(nonce))
		h.Set("Content-Type", a.contentType)
		h.Set("Cache-Control", "no-store")
		w.Write(bytes.ReplaceAll(a.body, []byte(noncePlaceholder), []byte(nonce)))
		return
	}
	h.Set("Content-Type", a.contentType)
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", a.etag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
}
