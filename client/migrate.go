package client

import (
	"context"
	"net/http"

	"github.com/starbase/starbase/api"
)

// Migrate upgrades every stored object of class to its current version.
func (c *Client) Migrate(ctx context.Context, class string, batch int) (api.MigrateResult, error) {
	var res api.MigrateResult
	err := c.do(ctx, http.MethodPost, "/-/api/migrate", nil, api.MigrateRequest{Class: class, Batch: batch}, &res)
	return res, err
}
