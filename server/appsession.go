package server

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/starbase/starbase/api"
	"github.com/starbase/starbase/appsession"
	"github.com/starbase/starbase/auth"
	"github.com/starbase/starbase/objects"
	"github.com/starbase/starbase/store"
)

// The sessions of the app's users and the CSRF rule (package appsession): serveApp opens
// the request's session, refuses a request the CSRF rule covers without a valid token
// before its handler runs (so nothing it would write is written), binds a fresh run of
// the session to each run of the handler, and sends the last run's changes as a cookie
// with the handler's answer.

// refuseCSRF answers a request refused by the CSRF rule: 403, by Accept as abort() answers;
// or 503 when the keys could not be read.
func (s *Server) refuseCSRF(w http.ResponseWriter, r *http.Request, err error) {
	if !errors.Is(err, appsession.ErrCSRF) {
		s.log.Warn("reading the app session keys failed", "err", err)
		http.Error(w, "The session keys cannot be read now; retry later.", http.StatusServiceUnavailable)
		return
	}
	answerAbort(w, r, &objects.AbortError{Status: http.StatusForbidden, Message: "Forbidden: " + csrfReason(err)})
}

// csrfReason returns what a refused client is told: the last line of err (appsession
// joins ErrCSRF with the reason).
func csrfReason(err error) string {
	var j interface{ Unwrap() []error }
	if errors.As(err, &j) {
		if errs := j.Unwrap(); len(errs) > 1 {
			return errs[len(errs)-1].Error()
		}
	}
	return err.Error()
}

// setSessionCookie adds the Set-Cookie of run, the handler's last run, if its session changed.
func setSessionCookie(w http.ResponseWriter, sess *appsession.State, run *appsession.Run) error {
	c, err := sess.Cookie(run)
	if err != nil || c == nil {
		return err
	}
	http.SetCookie(w, c)
	return nil
}

// apiRotateAppSecret rotates the key of the app's sessions and CSRF tokens. The new key and
// the audit record are one store commit; the key itself is never answered or logged.
func (s *Server) apiRotateAppSecret(w http.ResponseWriter, r *http.Request) error {
	var req api.SecretRotateRequest
	if err := decodeJSON(w, r, maxSmallBody, &req); err != nil {
		return err
	}
	if req.GraceSeconds < 0 {
		return fmt.Errorf("%w: grace_seconds must not be negative", errBadRequest)
	}
	// This also keeps the conversion to a Duration from overflowing.
	if maxGrace := int64(appsession.MaxAge / time.Second); req.GraceSeconds > maxGrace {
		return fmt.Errorf("%w: grace_seconds is %d, over %d: a session cookie lasts at most %v after it was written, so a longer grace keeps no session open",
			errBadRequest, req.GraceSeconds, maxGrace, appsession.MaxAge)
	}
	grace := appsession.DefaultGrace
	if req.GraceSeconds > 0 {
		grace = time.Duration(req.GraceSeconds) * time.Second
	}
	keys, ok := s.cfg.AppKeys.(*appsession.Keys)
	if !ok {
		return fmt.Errorf("%w: this server's app session keys are not kept in its store", errBadRequest)
	}
	who := principalOf(r)
	key, err := keys.Rotate(r.Context(), time.Now(), grace, func(k appsession.Key) []store.Op {
		rec := s.newAuditRecord(r, who, auth.ActionSecretRotate)
		rec.Target, rec.Detail = k.ID, fmt.Sprintf("app session key rotated; the keys it replaced open cookies for %v more", grace)
		return []store.Op{auth.AuditOp(rec)}
	})
	if err != nil {
		return err
	}
	s.log.Info("app session key rotated", "key", key.ID, "grace", grace, "by", who.tok.Name, "remote", r.RemoteAddr)
	writeJSON(w, http.StatusOK, api.SecretRotation{KeyID: key.ID, Created: key.Created, GraceSeconds: int64(grace / time.Second)})
	return nil
}
