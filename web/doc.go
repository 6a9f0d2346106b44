// Package web is the HTTP vocabulary of stored apps, shared by the server and whatever else
// runs handlers as the server would: the request value handlers receive (Request: its
// fields, cookies, forms, files and JSON body, as MultiDicts where a key may repeat), and
// which proxies are believed about where a request came from (Proxies, Origin).
//
// It parses what clients send, so every parse is bounded: a body is read by the caller
// within its limit (serve --max-body) before a Request is made, forms and query strings are
// bounded in fields (MaxFormFields, MaxFormParts), what a parse builds, and the copies of
// the body, headers and cookies a handler reads, are charged to the handler's allocation
// check (runtime.ChargeAlloc, on the thread given by Request.SetThread), and JSON goes through the runtime's
// bounded decoder (runtime.DecodeJSON). A body a method cannot parse stops the handler with
// 400, as abort(400, why) would, naming what is wrong.
package web
