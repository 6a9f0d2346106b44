package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/starbase/starbase/api"
)

func newStatusCmd() *cobra.Command {
	var cf clientFlags
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show every live node and the commit it serves",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := cf.client()
			if err != nil {
				return err
			}
			st, err := c.Status(cmd.Context())
			if err != nil {
				return err
			}
			writeStatus(cmd.OutOrStdout(), st)
			return nil
		},
	}
	cf.register(cmd)
	return cmd
}

func writeStatus(w interface{ Write([]byte) (int, error) }, st api.Status) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tCOMMIT\tREVISION\tERROR")
	for _, n := range st.Nodes {
		commit := n.Commit
		if commit == "" {
			commit = "(none)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", n.Node, commit, n.Revision, n.Error)
	}
	tw.Flush()
}
