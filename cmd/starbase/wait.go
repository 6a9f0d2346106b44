package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/starbase/starbase/api"
	"github.com/starbase/starbase/client"
)

// waitForNodes returns when every live node has applied the store revision of res (and so
// serves its commit or a later one), or fails after timeout naming the nodes that lag.
func waitForNodes(ctx context.Context, c *client.Client, res api.CommitResult, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	var lagging []api.Node
	var lastErr error
	for {
		st, err := c.Status(ctx)
		if err == nil {
			lagging = lagging[:0]
			for _, n := range st.Nodes {
				if n.Revision < res.Revision {
					lagging = append(lagging, n)
				}
			}
			if len(lagging) == 0 {
				return nil
			}
		}
		lastErr = err
		select {
		case <-ctx.Done():
			if len(lagging) == 0 && lastErr != nil {
				return fmt.Errorf("pushed %s, but could not read the nodes' status within %v: %w", res.Commit, timeout, lastErr)
			}
			names := make([]string, len(lagging))
			for i, n := range lagging {
				names[i] = fmt.Sprintf("%s (serving %.12s, at revision %d)", n.Node, n.Commit, n.Revision)
			}
			return fmt.Errorf("pushed %s at revision %d, but after %v these nodes still lag: %s",
				res.Commit, res.Revision, timeout, strings.Join(names, ", "))
		case <-tick.C:
		}
	}
}
