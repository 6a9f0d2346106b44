package server

import (
	"fmt"
	"net/http"
	"time"

	"github.com/starbase/starbase/api"
	"github.com/starbase/starbase/auth"
	"github.com/starbase/starbase/store"
)

// Session cookies. Each origin has its own name, so that the sessions of the app's origin
// and of the editor's never replace each other: browsers scope a cookie to a host, not to a
// port, so a browser sends both to both origins when they differ by port only. Which
// origin accepts a session is the session record's (auth.Session.Origin), not the name's.
// Over TLS the cookie carries the __Host- prefix, which browsers accept only with Secure,
// Path=/ and no Domain: no other host, not even a sibling subdomain, can set or shadow it.
const (
	sessionCookie       = "starbase-session"
	editorSessionCookie = "starbase-editor-session"
	tlsPrefix           = "__Host-"
	// csrfHeader carries the anti-forgery token of a session (auth.CSRFToken).
	csrfHeader = "X-CSRF-Token"
	// maxSmallBody bounds the bodies of API requests other than push and revert.
	maxSmallBody = 64 << 10
)

// cookieName returns the name of the session cookie of g's origin on r's connection.
func (g *guard) cookieName(r *http.Request) string {
	name := sessionCookie
	if g.origin == auth.EditorOrigin {
		name = editorSessionCookie
	}
	if r.TLS != nil {
		return tlsPrefix + name
	}
	return name
}

// checkEditorFetch refuses, on the editor's origin, a request made with a session cookie
// that the browser says comes from anywhere but the editor's own pages, whatever its method.
// Browsers send a cookie to every port of its host and to sibling hosts of its site
// (SameSite judges sites, not origins), so a page of the app's origin can make the browser
// send the editor's cookie; it can read no answer (no CORS), and with this it gets no
// answer at all, not even a GET's.
func (g *guard) checkEditorFetch(r *http.Request) error {
	if g.origin != auth.EditorOrigin {
		return nil
	}
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" {
		return fmt.Errorf("%w: the editor's origin answers a session only from its own pages, and the browser reports a %s request (Sec-Fetch-Site)", errCSRF, site)
	}
	return nil
}

// checkSameOrigin refuses a request that a browser says comes from another site: a
// Sec-Fetch-Site other than same-origin, or an Origin other than the node's own. Clients
// that send neither header (the CLI, curl) pass; browsers send at least Origin with every
// state-changing request.
func checkSameOrigin(r *http.Request) error {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" {
		return fmt.Errorf("%w: the browser reports a %s request (Sec-Fetch-Site)", errCSRF, site)
	}
	if origin := r.Header.Get("Origin"); origin != "" {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		if want := scheme + "://" + r.Host; origin != want {
			return fmt.Errorf("%w: the request comes from origin %q, not %q", errCSRF, origin, want)
		}
	}
	return nil
}

// checkCSRF refuses a state-changing request authenticated by session id unless it comes
// from the node's own origin and carries the session's anti-forgery token.
func checkCSRF(r *http.Request, id string) error {
	if err := checkSameOrigin(r); err != nil {
		return err
	}
	token := r.Header.Get(csrfHeader)
	if token == "" {
		return fmt.Errorf("%w: a request made with a session cookie must send the session's CSRF token in %s", errCSRF, csrfHeader)
	}
	if !auth.CheckCSRF(id, token) {
		return fmt.Errorf("%w: the %s header does not match the session", errCSRF, csrfHeader)
	}
	return nil
}

// safeMethod reports whether method changes nothing (RFC 9110 section 9.2.1); the API never
// changes state on these.
func safeMethod(method string) bool {
	return method == http.MethodGet || method == http.MethodHead || method == http.MethodOptions
}

// login exchanges a token (in the JSON body) for a session cookie. It is rate-limited and
// audited like every authentication, and checks the origin: another site cannot log a
// browser into a session of the attacker's choosing.
//
// A refusal (a wrong origin, an unknown or revoked token) counts against the source; any
// other failure does not.
func (g *guard) login(w http.ResponseWriter, r *http.Request) error {
	src := sourceOf(r)
	ok, retry := g.limiter.take(src)
	if !ok {
		return g.s.tooMany(w, r, retry)
	}
	if err := checkSameOrigin(r); err != nil {
		return err
	}
	var req api.LoginRequest
	if err := decodeJSON(w, r, maxSmallBody, &req); err != nil {
		g.limiter.refund(src)
		return err
	}
	tok, err := g.authenticateToken(r.Context(), req.Token)
	if err != nil {
		if !isRefusal(err) {
			g.limiter.refund(src)
		}
		return err
	}
	g.limiter.refund(src)
	who := principal{tok: tok}
	who.tok.Role = tok.Role.Min(g.origin.MaxRole())
	rec := g.s.newAuditRecord(r, who, auth.ActionLogin)
	rec.Session = true
	rec.Detail = fmt.Sprintf("token role %s, session role %s on the %s's origin", tok.Role, who.tok.Role, g.origin)
	id, sess, err := g.sessions.Start(r.Context(), tok, g.origin, g.ttl, []store.Op{auth.AuditOp(rec)})
	if err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{
		Name:     g.cookieName(r),
		Value:    id,
		Path:     "/",
		Expires:  sess.Expires,
		MaxAge:   int(time.Until(sess.Expires).Seconds()),
		HttpOnly: true,
		Secure:   r.TLS != nil,
		SameSite: http.SameSiteStrictMode,
	})
	g.s.log.Info("login", "token", tok.ID, "actor", tok.Name, "remote", r.RemoteAddr)
	writeJSON(w, http.StatusOK, api.Session{Name: tok.Name, TokenID: tok.ID, Role: string(who.tok.Role),
		Expires: sess.Expires, CSRF: auth.CSRFToken(id), Origin: string(g.origin)})
	return nil
}

// logout ends the session of the request's cookie and clears the cookie.
func (g *guard) logout(w http.ResponseWriter, r *http.Request) error {
	who := principalOf(r)
	if who.session == "" {
		return fmt.Errorf("%w: logout ends a session, and this request was not made with a session cookie", errBadRequest)
	}
	rec := g.s.newAuditRecord(r, who, auth.ActionLogout)
	if err := g.sessions.End(r.Context(), who.session, []store.Op{auth.AuditOp(rec)}); err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{Name: g.cookieName(r), Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// apiSession tells the editor who it acts as and, for a session cookie, its CSRF token (for
// example after a page reload).
func (g *guard) apiSession(w http.ResponseWriter, r *http.Request) error {
	who := principalOf(r)
	out := api.Session{Name: who.tok.Name, TokenID: who.tok.ID, Role: string(who.tok.Role), Origin: string(g.origin)}
	if who.session != "" {
		out.Expires = who.sess.Expires
		out.CSRF = auth.CSRFToken(who.session)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
