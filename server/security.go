package server

import (
	"net/http"
	"strings"
)

// Security headers. Every response gets them; see SECURITY.md for why each is there.
const (
	// platformCSP is the Content-Security-Policy of API answers: JSON and text, which no
	// browser should ever run, style or frame.
	platformCSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
	// defaultCSP is the policy of every other response unless it sets its own: resources
	// from the same origin only, no inline script, no plugins, no framing.
	defaultCSP = "default-src 'self'; script-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
	// hsts tells browsers that reached the node over TLS to keep using TLS for a year.
	hsts = "max-age=31536000"
)

// Header values of the security headers, made once: a response is given these slices
// instead of new ones. Each has its length as capacity, so that a handler adding a value
// (Header.Add) appends to a copy. They are never modified.
var (
	nosniffValue     = []string{"nosniff"}
	denyValue        = []string{"DENY"}
	platformCSPValue = []string{platformCSP}
	defaultCSPValue  = []string{defaultCSP}
	noReferrerValue  = []string{"no-referrer"}
	hstsValue        = []string{hsts}
)

// securityWriter sets the security headers of a response just before its header is
// written, so that it sees what the handler set:
//
//   - X-Content-Type-Options: nosniff and X-Frame-Options: DENY are always set, replacing
//     anything the handler (stored code included) set: no response may be sniffed into
//     script or framed.
//   - Content-Security-Policy and Referrer-Policy get a default only when the handler set
//     none: an application may choose its own policy (for example to allow its own inline
//     script); it cannot lift the frame denial, which X-Frame-Options still imposes.
//   - Strict-Transport-Security is set on responses sent over TLS.
type securityWriter struct {
	http.ResponseWriter
	csp   []string // the default Content-Security-Policy
	tls   bool
	wrote bool
}

// withSecurityHeaders wraps w so that the response to r carries the security headers.
func withSecurityHeaders(w http.ResponseWriter, r *http.Request) http.ResponseWriter {
	csp := defaultCSPValue
	if strings.HasPrefix(r.URL.Path, "/-/api/") {
		csp = platformCSPValue
	}
	return &securityWriter{ResponseWriter: w, csp: csp, tls: r.TLS != nil}
}

func (w *securityWriter) WriteHeader(status int) {
	// Informational answers (103 Early Hints) precede the real header, which the handler
	// may still change.
	if !w.wrote && status >= 200 {
		w.wrote = true
		// The keys are canonical, so the map is used directly (as Header.Set would).
		h := w.Header()
		h["X-Content-Type-Options"] = nosniffValue
		h["X-Frame-Options"] = denyValue
		if v := h["Content-Security-Policy"]; len(v) == 0 || v[0] == "" {
			h["Content-Security-Policy"] = w.csp
		}
		if v := h["Referrer-Policy"]; len(v) == 0 || v[0] == "" {
			h["Referrer-Policy"] = noReferrerValue
		}
		if w.tls {
			h["Strict-Transport-Security"] = hstsValue
		}
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *securityWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

// Flush sends buffered data to the client (for streaming responses).
func (w *securityWriter) Flush() {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *securityWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
