package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/starbase/starbase/api"
)

// StartRollout starts serving req.Commit to a share of the requests (POST /-/api/rollout).
func (c *Client) StartRollout(ctx context.Context, req api.RolloutRequest) (api.RolloutStatus, error) {
	var res api.RolloutStatus
	err := c.do(ctx, http.MethodPost, "/-/api/rollout", nil, req, &res)
	return res, err
}

// Rollout returns the rollout of ref ("" for main) and what every node makes of it.
func (c *Client) Rollout(ctx context.Context, ref string) (api.RolloutStatus, error) {
	var res api.RolloutStatus
	q := url.Values{}
	if ref != "" {
		q.Set("ref", ref)
	}
	err := c.do(ctx, http.MethodGet, "/-/api/rollout", q, nil, &res)
	return res, err
}

// PromoteRollout makes the running rollout's commit its ref's.
func (c *Client) PromoteRollout(ctx context.Context, req api.RolloutAction) (api.CommitResult, error) {
	var res api.CommitResult
	err := c.do(ctx, http.MethodPost, "/-/api/rollout/promote", nil, req, &res)
	return res, err
}

// AbortRollout ends the running rollout: every node serves the ref's commit alone again.
func (c *Client) AbortRollout(ctx context.Context, req api.RolloutAction) (api.RolloutStatus, error) {
	var res api.RolloutStatus
	err := c.do(ctx, http.MethodPost, "/-/api/rollout/abort", nil, req, &res)
	return res, err
}
