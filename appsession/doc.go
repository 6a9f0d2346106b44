// Package appsession keeps the sessions of an app's own users (not the platform's: those are
// package auth's) and protects the app's HTML forms against cross-site request forgery.
//
// # Sessions
//
// A session is a small dict of JSON values (strings, numbers, booleans, None, lists and
// dicts of them) that a handler reads and changes with the predeclared session module
// (session.get, set, pop, clear). It travels in one cookie, "session" (HttpOnly,
// SameSite=Lax, Path=/, Secure over TLS), sealed with AES-256-GCM under a key of the
// server's: the browser can neither read it nor change it. A cookie that does not open
// (tampered, forged, made with a key retired past its grace period, not a session at all)
// or that has expired is treated as no session; the handler runs all the same, with an
// empty one. A session expires MaxAge after it was last written, by the request's clock
// (runtime.ThreadNow: the instant the request started), so that every re-run of a
// conflicted transaction decides alike.
//
// A handler's changes are sent as a new cookie with its answer, whatever its status; a
// handler that fails or aborts sends none. Each run of a handler that a data conflict
// runs again starts from the session as the request brought it.
//
// # Keys
//
// The keys live in the control plane's store under KeysKey, which stored code cannot reach
// (its data API is confined to the data tier): the first request that needs one creates
// it. An admin rotates them (`starbase secret rotate`, POST /-/api/app-secret/rotate,
// audited): the new key seals every cookie from then on, and the keys it replaced still
// open cookies for a grace period (default DefaultGrace), after which they are dropped.
// Each node reads the keys at most every CacheTTL.
//
// # CSRF
//
// A token (csrf_token() in code, {{csrf_token}} and {{csrf_field}} in templates) is an HMAC,
// under the current key, of a random id kept in the session (made on first use, new after
// session.clear()). The rule, checked by the server before the handler runs (Check):
//
//	an app request whose method is POST, PUT, PATCH or DELETE is refused with 403, before
//	its handler runs, unless it carries a valid token (in the form field csrf_token or the
//	header X-App-CSRF-Token), when either
//	  - it carries a Cookie header (any cookie of the app's), or
//	  - its content type is one an HTML form sends (application/x-www-form-urlencoded,
//	    multipart/form-data, text/plain) and the browser says it comes from another site
//	    (Sec-Fetch-Site: cross-site or same-site, or an Origin whose host is not the
//	    request's Host).
//
// A request with no cookie from a client that is not a browser (a JSON API client, curl, a
// webhook) is not checked: without a cookie a forged request carries no authority of the
// victim's, and a cross-site page cannot send a JSON content type without the app's CORS
// consent. A cross-site form sent with no cookie (a forged log in) is refused: it can have
// no valid token.
package appsession
