// Package build builds the app of a tree: what a node serves, and what the validation gate
// checks before a ref may move. Both call the same functions of this package, so that a
// commit that passes the gate builds on every node, and a commit a node cannot build was
// refused by the gate first (see the generated test in server/buildfuzz_test.go).
//
// An app is built from a snapshot in three steps:
//
//   - Templates: every template of the tree is parsed, checked and escaped for its HTML
//     contexts by render (see render.Parse for the rules), through the Renderer whose
//     render() builtin the app's handlers call, so that the node's first render finds the
//     set ready.
//   - app.star, the entry point, is loaded with the node's loader (its loads with it).
//   - Routes: app.star's routes dict and handle function become a routing table. Each
//     pattern must be valid for net/http's ServeMux (registered on a real one), no two may
//     conflict, paths under /-/ are the platform's, and each handler must be a function
//     that can be called with one argument, the request.
//
// A tree without app.star builds an App that serves nothing (Missing): pushing only
// libraries is allowed, and a node answers their requests 503.
//
// Every problem in the code is reported as an api.Problem located in the stored source
// (the route's key in app.star, the template's line), never at a path of the machine that
// built Starbase.
package build
