package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/starbase/starbase/api"
)

// CreateToken creates a token named name with role (reader, developer or admin) and returns
// it with its secret, which the server shows only this once. It needs an admin token.
func (c *Client) CreateToken(ctx context.Context, name, role string) (api.NewToken, error) {
	var res api.NewToken
	err := c.do(ctx, http.MethodPost, "/-/api/tokens", nil, api.TokenRequest{Name: name, Role: role}, &res)
	return res, err
}

// Tokens lists every token. It needs an admin token.
func (c *Client) Tokens(ctx context.Context) ([]api.Token, error) {
	var res []api.Token
	err := c.do(ctx, http.MethodGet, "/-/api/tokens", nil, nil, &res)
	return res, err
}

// RevokeToken revokes the token with id and returns what it was. It needs an admin token.
func (c *Client) RevokeToken(ctx context.Context, id string) (api.Token, error) {
	var res api.Token
	err := c.do(ctx, http.MethodDelete, "/-/api/tokens/"+url.PathEscape(id), nil, nil, &res)
	return res, err
}

// Audit returns up to n audit records, newest first, older than the record with key after
// ("" for the newest). It needs an admin token.
func (c *Client) Audit(ctx context.Context, n int, after string) ([]api.AuditRecord, error) {
	q := url.Values{"n": {strconv.Itoa(n)}}
	if after != "" {
		q.Set("after", after)
	}
	var res []api.AuditRecord
	err := c.do(ctx, http.MethodGet, "/-/api/audit", q, nil, &res)
	return res, err
}

// ProtectedRefs returns the refs only admins may move.
func (c *Client) ProtectedRefs(ctx context.Context) ([]string, error) {
	var res api.ProtectedRefs
	err := c.do(ctx, http.MethodGet, "/-/api/protected-refs", nil, nil, &res)
	return res.Refs, err
}

// SetProtectedRefs makes refs the protected refs and returns the stored list. It needs an
// admin token.
func (c *Client) SetProtectedRefs(ctx context.Context, refs []string) ([]string, error) {
	var res api.ProtectedRefs
	err := c.do(ctx, http.MethodPut, "/-/api/protected-refs", nil, api.ProtectedRefs{Refs: refs}, &res)
	return res.Refs, err
}

// MoveRef moves ref to commit, on condition that it is at expected ("" = the ref must not
// exist).
func (c *Client) MoveRef(ctx context.Context, ref, commit, expected string) (api.CommitResult, error) {
	var res api.CommitResult
	err := c.do(ctx, http.MethodPut, "/-/api/refs/"+ref, nil, api.RefRequest{Commit: commit, Expected: expected}, &res)
	return res, err
}

// RotateSecret rotates the key of the app's user sessions and CSRF tokens; the keys it
// replaces open cookies for grace more (0: the server's default). It needs an admin token.
func (c *Client) RotateSecret(ctx context.Context, grace time.Duration) (api.SecretRotation, error) {
	var res api.SecretRotation
	err := c.do(ctx, http.MethodPost, "/-/api/app-secret/rotate", nil, api.SecretRotateRequest{GraceSeconds: int64(grace / time.Second)}, &res)
	return res, err
}
