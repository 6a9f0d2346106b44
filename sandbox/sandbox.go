// Package sandbox names everything stored code can reach: its predeclared names. They are the
// only authority stored code has. There is no other way out of the interpreter: no
// filesystem, network, process environment, clock or randomness beyond what these grant.
//
// The complete list, besides the Starlark language's own universe (len, range, str, dict,
// sorted, fail, print, ...):
//
//	struct, json, math, response,  runtime.Builtins: values, JSON, arithmetic, HTTP answers,
//	redirect, set_cookie,          redirects and the cookies they set
//	delete_cookie
//	model, db, abort               objects.Builtins: persistent classes and the request's data
//	                               (db works only while handling a request, inside its
//	                               transaction; abort rolls it back and answers an error status)
//	render                         render.Renderer: html/template files of the request's own
//	                               commit (only while handling a request), output bounded
//	time, uuid, secrets, hashlib,  stdlib.Predeclared: the request's clock (time.now() is the
//	hmac, password, base64, url,   instant the request started, and fails at a module's top
//	log                            level), randomness from crypto/rand, digests, bcrypt,
//	                               encodings, and log records tagged with the request id
//	decimal                        stdlib.Predeclared: exact decimal numbers (package decimal)
//	session, csrf_token            appsession.Builtins: the sealed cookie session of the
//	                               app's user and its CSRF token (only while handling a
//	                               request)
//
// docs/builtins.md describes every name and every member of each module; a test checks it
// against this list.
//
// print() is captured per request into the structured log, bounded.
//
// The server (whose loader the validation gate uses) and `starbase check` both build their
// loader with Predeclared, so that code is checked against exactly the names it runs with.
package sandbox

import (
	"go.starlark.net/starlark"

	"github.com/starbase/starbase/appsession"
	"github.com/starbase/starbase/objects"
	"github.com/starbase/starbase/runtime/render"
	"github.com/starbase/starbase/runtime/stdlib"
)

// Predeclared returns the names added to runtime.Builtins for every stored module. Each call
// returns fresh values (with their own caches), for one loader.
func Predeclared() starlark.StringDict {
	names, _ := WithRenderer()
	return names
}

// WithRenderer returns what Predeclared returns and the Renderer behind its render, whose
// template sets a node prepares when it builds a release (see build.Builder).
func WithRenderer() (starlark.StringDict, *render.Renderer) {
	names := objects.Builtins()
	r := render.New(render.Options{CSRFToken: appsession.Token})
	for k, v := range r.Predeclared() {
		names[k] = v
	}
	for k, v := range stdlib.Predeclared() {
		names[k] = v
	}
	for k, v := range appsession.Builtins() {
		names[k] = v
	}
	return names, r
}
