package client

import (
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/starbase/starbase/api"
)

// Backup streams a backup of the server's store and data tier (GET /-/api/backup) into w and
// returns how many bytes it wrote. It needs an admin token. The request has no time limit
// beyond ctx: a large store takes as long as it takes. What it writes is checked by nobody
// here: read it back with backup.Check (starbase backup does, as it writes).
func (c *Client) Backup(ctx context.Context, w io.Writer) (int64, error) {
	u := *c.base
	u.Path = "/-/api/backup"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return 0, err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	hc := *c.http
	hc.Timeout = 0
	resp, err := hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("cannot reach the server at %s: %w", c.base, err)
	}
	defer resp.Body.Close()
	if resp.Header.Get(api.MarkerHeader) != api.MarkerValue {
		return 0, c.notAPI(http.MethodGet, u.Path, resp)
	}
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return 0, answerError(http.MethodGet, u.Path, resp, body)
	}
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		return n, fmt.Errorf("receiving the backup after %d bytes: %w", n, err)
	}
	return n, nil
}
