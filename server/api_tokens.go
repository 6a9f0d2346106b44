package server

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/starbase/starbase/api"
	"github.com/starbase/starbase/auth"
	"github.com/starbase/starbase/store"
)

// apiTokens lists every token (never a secret).
func (s *Server) apiTokens(w http.ResponseWriter, r *http.Request) error {
	toks, err := s.tokens.List(r.Context())
	if err != nil {
		return err
	}
	out := make([]api.Token, len(toks))
	for i, t := range toks {
		out[i] = apiToken(t)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// apiCreateToken creates a token and answers its secret, once. The token and its audit
// record are one store commit.
func (s *Server) apiCreateToken(w http.ResponseWriter, r *http.Request) error {
	var req api.TokenRequest
	if err := decodeJSON(w, r, maxSmallBody, &req); err != nil {
		return err
	}
	role, err := auth.ParseRole(req.Role)
	if err != nil {
		return err
	}
	who := principalOf(r)
	secret, tok, err := s.tokens.Create(r.Context(), req.Name, role, func(t auth.Token) []store.Op {
		rec := s.newAuditRecord(r, who, auth.ActionTokenCreate)
		rec.Target, rec.Detail = t.ID, fmt.Sprintf("name %q, role %s", t.Name, t.Role)
		return []store.Op{auth.AuditOp(rec)}
	})
	if err != nil {
		return err
	}
	s.log.Info("token created", "token", tok.ID, "name", tok.Name, "role", tok.Role, "by", who.tok.Name, "remote", r.RemoteAddr)
	writeJSON(w, http.StatusCreated, api.NewToken{Token: apiToken(tok), Secret: secret})
	return nil
}

// apiRevokeToken revokes the token {id}. The deletion and its audit record are one store
// commit; every node refuses the token from the next request on.
func (s *Server) apiRevokeToken(w http.ResponseWriter, r *http.Request) error {
	who := principalOf(r)
	tok, err := s.tokens.Revoke(r.Context(), r.PathValue("id"), func(t auth.Token) []store.Op {
		rec := s.newAuditRecord(r, who, auth.ActionTokenRevoke)
		rec.Target, rec.Detail = t.ID, fmt.Sprintf("name %q, role %s", t.Name, t.Role)
		return []store.Op{auth.AuditOp(rec)}
	})
	if err != nil {
		return err
	}
	s.log.Info("token revoked", "token", tok.ID, "name", tok.Name, "by", who.tok.Name, "remote", r.RemoteAddr)
	writeJSON(w, http.StatusOK, apiToken(tok))
	return nil
}

func apiToken(t auth.Token) api.Token {
	return api.Token{ID: t.ID, Name: t.Name, Role: string(t.Role), Created: t.Created}
}

// apiProtectedRefs answers the refs only admins may move.
func (s *Server) apiProtectedRefs(w http.ResponseWriter, r *http.Request) error {
	refs, err := auth.NewProtection(s.cfg.Store).Refs(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, api.ProtectedRefs{Refs: refs})
	return nil
}

// apiSetProtectedRefs replaces the protected refs; the setting and its audit record are one
// store commit.
func (s *Server) apiSetProtectedRefs(w http.ResponseWriter, r *http.Request) error {
	var req api.ProtectedRefs
	if err := decodeJSON(w, r, maxSmallBody, &req); err != nil {
		return err
	}
	listed := slices.Compact(slices.Sorted(slices.Values(req.Refs)))
	rec := s.newAuditRecord(r, principalOf(r), auth.ActionSettings)
	rec.Detail = "protected refs: [" + strings.Join(listed, ", ") + "]"
	refs, err := auth.NewProtection(s.cfg.Store).Set(r.Context(), req.Refs, []store.Op{auth.AuditOp(rec)})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, api.ProtectedRefs{Refs: refs})
	return nil
}
