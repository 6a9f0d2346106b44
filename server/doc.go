// Package server serves the application stored in a Starbase store over HTTP, together with
// the platform endpoints under /-/ (health, status, and the API the CLI uses).
//
// # Releases
//
// A node serves one release at a time: a commit of the ref main, its tree, and the routes of
// its app.star, already loaded. The releases type (releases.go) owns them and knows nothing
// of HTTP: one main loop watches the ref in the store and, when it moves, builds the new
// release (loading, and so warming, the app's module closure: unchanged modules come from
// the loader's cache) and then swaps the atomic pointer that holds the current one. A
// request reads that pointer once, at its start, and runs entirely against that release, so
// every load() it makes, directly or not, resolves against one commit: no request ever sees
// a mix of two versions. Requests already running finish on their own release.
//
// A release is built by package build, the same code the validation gate runs, so a
// commit that passed the gate builds. If one still does not build on a node, the node
// keeps its last working release and reports the failure in /-/status, a metric and its
// log (see releases.go); a node with no working release answers app requests 503.
//
// # Rollouts and previews
//
// While a rollout of main runs, a node holds a second release beside the current one, the
// rollout's commit, built by the same code (releases.candidate, followed through the same
// watch as the ref: rollout.go). Each request still reads one release at its start: pick
// (rolloutroute.go) chooses it by the client's pin or affinity key, the same on every node.
// Every node measures both commits over a sliding window and rolls the rollout back through
// the store past its thresholds (rolloutwindow.go). /-/preview/COMMIT/ serves any commit's
// release to developers, apart from all this (preview.go).
//
// # Publishing and the API
//
// The publisher (publisher.go) moves refs: push, revert and ref move, each a
// func(ctx, who, request) (result, error) that holds the rules of every change of a ref
// (protected refs, stale bases, the validation gate, the audit record committed with the
// change). The API's handlers (api*.go) decode a request, call it or read the store, and
// return their error to one adapter (serveAPI), which audits refusals and maps every other
// error to its status (errors.go).
//
// # Two origins
//
// ServeHTTP is the app's origin: the application, the API, the editor at /-/ui/ and
// previews. Editor (editor.go) is the editor's own origin, served on a listener of its own
// (serve --editor-addr): the editor and the API, no stored code. Each origin has its own
// guard (api.go), which reads its own session cookie, accepts only the sessions made on
// it, and caps their role by it (auth.SessionOrigin): developer on the app's origin, whose
// pages developers write, the token's role on the editor's.
//
// # The app contract
//
// app.star at the root of the tree defines routes, a dict from net/http ServeMux patterns
// ("GET /items/{id}") to handler functions, and/or handle(req), called for every request no
// route matches (a path a route matches with another method is 405 with Allow). A handler
// receives a request (web.Request: req.method, req.path, req.params, req.query, req.cookies,
// req.form(), req.json(), ...) and returns a string (200, text/html), a dict or list (JSON),
// bytes, None (204), response(...) or redirect(...). Every app response carries the header
// Starbase-Commit. A request body over Config.MaxBodyBytes is answered 413 before any stored
// code runs.
//
// Besides its handlers, a commit's tree is served two ways: the files under static/ at
// /static/..., by blob id (ETag), before any route is matched (static_files.go), and the
// templates templates/errors/STATUS.html as the app's own pages for the error statuses the
// platform answers for it: unmatched paths, abort() and failures (apppages.go).
package server
