package appsession

import (
	"bytes"
	"crypto/hmac"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
)

// FormField and Header carry a request's CSRF token. The header is not X-CSRF-Token: that
// one carries the platform's own token (the editor's session) and the server removes it
// from every request before the app's code or this check sees it.
const (
	FormField = "csrf_token"
	Header    = "X-App-CSRF-Token"
)

// maxFormParts bounds the parts of a multipart body read looking for the token.
const maxFormParts = 1000

// Covered reports whether the CSRF rule covers r (see the package doc): an unsafe method,
// and either a Cookie header, or a form's content type sent, by the browser's own account,
// from another site.
func Covered(r *http.Request) bool {
	switch r.Method {
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
	default:
		return false
	}
	if len(r.Header.Values("Cookie")) > 0 {
		return true
	}
	return formType(r) != "" && fromAnotherSite(r)
}

// fromAnotherSite reports whether a browser says r comes from a page of another site:
// Sec-Fetch-Site cross-site or same-site (a sibling subdomain), or an Origin whose host is
// not r's. Clients that are not browsers send neither.
func fromAnotherSite(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "cross-site", "same-site":
		return true
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return false
	}
	u, err := url.Parse(origin)
	return err != nil || u.Host == "" || !strings.EqualFold(u.Host, r.Host)
}

// formType returns the media type of r's body if it is one an HTML form can send.
func formType(r *http.Request) string {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch mt {
	case "application/x-www-form-urlencoded", "multipart/form-data", "text/plain":
		return mt
	}
	return ""
}

// CheckCSRF returns ErrCSRF when the rule covers r and it does not carry a valid token of
// its session (in the header, or the form field of body, r's body as read within the
// request size limit); the error of the keys if they could not be read.
func (s *State) CheckCSRF(r *http.Request, body []byte) error {
	if !Covered(r) {
		return nil
	}
	if err := s.open(); err != nil {
		return err
	}
	if s.base.CSRF == "" {
		return errors.Join(ErrCSRF, errors.New("the request has no session with a CSRF token: render the form with {{csrf_field}} (or send csrf_token() in the X-App-CSRF-Token header) and keep the session cookie"))
	}
	tok := r.Header.Get(Header)
	if tok == "" {
		tok = formToken(r, body)
	}
	if tok == "" {
		return errors.Join(ErrCSRF, errors.New("the request carries no CSRF token: add {{csrf_field}} to the form, or the X-App-CSRF-Token header"))
	}
	if len(tok) <= keyIDLen {
		return errors.Join(ErrCSRF, errors.New("the CSRF token is not the session's: reload the form and submit it again"))
	}
	key, ok := s.ring.find(tok[:keyIDLen], s.now)
	if !ok || !hmac.Equal([]byte(token(key, s.base.CSRF)), []byte(tok)) {
		return errors.Join(ErrCSRF, errors.New("the CSRF token is not the session's: reload the form and submit it again"))
	}
	return nil
}

// formToken returns the csrf_token field of a form body ("" if none).
func formToken(r *http.Request, body []byte) string {
	mt, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch mt {
	case "application/x-www-form-urlencoded":
		// A malformed pair elsewhere does not hide the token: ParseQuery keeps every
		// valid pair, as req.form() does.
		q, _ := url.ParseQuery(string(body))
		return q.Get(FormField)
	case "multipart/form-data":
		if params["boundary"] == "" {
			return ""
		}
		mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
		for range maxFormParts {
			p, err := mr.NextPart()
			if err != nil {
				return ""
			}
			if p.FormName() == FormField && p.FileName() == "" {
				b, err := io.ReadAll(io.LimitReader(p, 256))
				if err != nil {
					return ""
				}
				return string(b)
			}
		}
	}
	return ""
}
