package main

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/starbase/starbase/api"
)

func newRolloutCmd() *cobra.Command {
	var (
		cf                    clientFlags
		ref, steps, reason    string
		percent               int
		every                 time.Duration
		status, promote, stop bool
		th                    api.RolloutThresholds
	)
	cmd := &cobra.Command{
		Use:   "rollout [COMMIT] [--percent P | --steps 1,10,50,100 --every 5m] | --status | --promote | --abort",
		Short: "Serve a commit to a share of the requests beside the current release, then promote or abort it",
		Long: `rollout COMMIT serves COMMIT to P percent of app requests on every node, and the commit
main names to the rest; --steps with --every raises the share on a schedule every node
follows. A client stays on the commit it got (cookie starbase-rollout, or the header
Starbase-Commit-Pin naming one of the two commits). Every node compares the two commits'
error rates and p99 latencies over a sliding window and aborts the rollout by itself past
the thresholds (defaults: window 1m, at least 50 requests, 5 points more errors, p99 2x
and 50ms slower). --promote makes COMMIT main's; --abort puts everyone back on main.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := cf.client()
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			ctx := cmd.Context()
			modes := 0
			for _, b := range []bool{status, promote, stop, len(args) == 1} {
				if b {
					modes++
				}
			}
			if modes != 1 {
				return errors.New("give exactly one of: COMMIT (to start a rollout), --status, --promote, --abort")
			}
			switch {
			case status:
				st, err := c.Rollout(ctx, ref)
				if err != nil {
					return err
				}
				writeRollout(out, st)
				return nil
			case promote:
				res, err := c.PromoteRollout(ctx, api.RolloutAction{Ref: ref})
				if err != nil {
					return err
				}
				fmt.Fprintf(out, "promoted: %s now names %s\n", refName(ref), res.Commit)
				return nil
			case stop:
				st, err := c.AbortRollout(ctx, api.RolloutAction{Ref: ref, Reason: reason})
				if err != nil {
					return err
				}
				writeRollout(out, st)
				return nil
			}
			req := api.RolloutRequest{Ref: ref, Commit: args[0], Every: every, Thresholds: th}
			switch {
			case steps != "" && cmd.Flags().Changed("percent"):
				return errors.New("give --percent or --steps, not both")
			case steps != "":
				for _, f := range strings.Split(steps, ",") {
					p, err := strconv.Atoi(strings.TrimSpace(f))
					if err != nil {
						return fmt.Errorf("--steps %q: %q is not a whole percentage; write them like 1,10,50,100", steps, f)
					}
					req.Steps = append(req.Steps, p)
				}
			default:
				req.Steps = []int{percent}
			}
			if err := req.Check(); err != nil {
				return err
			}
			st, err := c.StartRollout(ctx, req)
			if err != nil {
				return err
			}
			writeRollout(out, st)
			return nil
		},
	}
	cf.register(cmd)
	f := cmd.Flags()
	f.StringVar(&ref, "ref", "", "the ref whose rollout this is (default main)")
	f.IntVar(&percent, "percent", 10, "the share of requests, in percent, the commit gets")
	f.StringVar(&steps, "steps", "", "percentages served one after the other, such as 1,10,50,100")
	f.DurationVar(&every, "every", 0, "how long each step of --steps lasts")
	f.BoolVar(&status, "status", false, "show the rollout and what each node makes of it")
	f.BoolVar(&promote, "promote", false, "make the rollout's commit the ref's")
	f.BoolVar(&stop, "abort", false, "end the rollout: every node serves the ref's commit alone")
	f.StringVar(&reason, "reason", "", "with --abort: why, for the audit log")
	f.DurationVar(&th.Window, "window", 0, "automatic rollback: the sliding window compared (default 1m)")
	f.IntVar(&th.MinRequests, "min-requests", 0, "automatic rollback: requests of the new commit a node needs in the window before judging (default 50)")
	f.Float64Var(&th.MaxErrorRise, "max-error-rise", 0, "automatic rollback: percentage points of errors above the current release's (default 5)")
	f.Float64Var(&th.MaxP99Ratio, "max-p99-ratio", 0, "automatic rollback: p99 latency ratio to the current release's (default 2; negative disables)")
	return cmd
}

func refName(ref string) string {
	if ref == "" {
		return "main"
	}
	return ref
}

func writeRollout(w io.Writer, st api.RolloutStatus) {
	ro := st.Rollout
	if ro == nil {
		fmt.Fprintln(w, "no rollout")
		return
	}
	fmt.Fprintf(w, "rollout of %s on %s (from %s): %s", ro.Commit, ro.Ref, ro.Base, ro.State)
	if ro.State == api.RolloutRunning {
		fmt.Fprintf(w, ", %d%% of requests now", st.Percent)
	}
	fmt.Fprintf(w, "\nsteps %v", ro.Steps)
	if ro.Every > 0 {
		fmt.Fprintf(w, " every %v", ro.Every)
	}
	fmt.Fprintf(w, ", started %s by %s\n", ro.Started.Format(time.RFC3339), ro.By)
	if ro.Reason != "" {
		fmt.Fprintf(w, "reason: %s\n", ro.Reason)
	}
	if len(st.Nodes) > 0 {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NODE\tSTATE\tPERCENT\tERROR")
		for _, n := range st.Nodes {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", n.Node, n.State, n.Percent, n.Error)
		}
		tw.Flush()
	}
}
