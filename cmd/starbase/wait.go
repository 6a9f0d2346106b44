package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/starbase/starbase/api"
	"github.com/starbase/starbase/client"
)

// waitForNodes returns when every live node has applied the store revision of res: each
// serves its commit (or a later one), or refused it because it does not build there and
// keeps serving its last working release. It fails if any node refused the commit, naming
// each with why, or after timeout naming the nodes that lag.
func waitForNodes(ctx context.Context, c *client.Client, res api.CommitResult, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	var lagging, refused []api.Node
	var lastErr error
	for {
		// The API's status (reader) has the problems of the commits nodes refused.
		st, err := c.FullStatus(ctx)
		if err == nil {
			lagging, refused = lagging[:0], refused[:0]
			for _, n := range st.Nodes {
				switch {
				case n.Wanted == res.Commit && n.Error != "":
					refused = append(refused, n)
				case n.Revision < res.Revision:
					lagging = append(lagging, n)
				}
			}
			if len(lagging) == 0 {
				if len(refused) > 0 {
					return refusal(res, refused)
				}
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
			err := fmt.Errorf("pushed %s at revision %d, but after %v these nodes still lag: %s",
				res.Commit, res.Revision, timeout, strings.Join(names, ", "))
			if len(refused) > 0 {
				err = fmt.Errorf("%w\n%v", err, refusal(res, refused))
			}
			return err
		case <-tick.C:
		}
	}
}

// refusal says which nodes refused the pushed commit and why.
func refusal(res api.CommitResult, refused []api.Node) error {
	var b strings.Builder
	fmt.Fprintf(&b, "pushed %s, but %d node(s) do not serve it because it does not build there:", res.Commit, len(refused))
	for _, n := range refused {
		serving := "nothing"
		if n.Commit != "" {
			serving = fmt.Sprintf("%.12s", n.Commit)
		}
		fmt.Fprintf(&b, "\n  %s (serving %s): %s", n.Node, serving, n.Error)
		for _, p := range n.Problems {
			fmt.Fprintf(&b, "\n    %s", p)
		}
	}
	return fmt.Errorf("%s", b.String())
}
