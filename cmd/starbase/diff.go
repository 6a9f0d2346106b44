package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newDiffCmd() *cobra.Command {
	var cf clientFlags
	cmd := &cobra.Command{
		Use:   "diff [FROM [TO]]",
		Short: "Show a unified diff between two commits (default: main's parent against main)",
		Args:  cobra.MaximumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := cf.client()
			if err != nil {
				return err
			}
			var from, to string
			if len(args) > 0 {
				from = args[0]
			}
			if len(args) > 1 {
				to = args[1]
			}
			d, err := c.Diff(cmd.Context(), from, to)
			if err != nil {
				return err
			}
			fmt.Fprint(cmd.OutOrStdout(), d)
			return nil
		},
	}
	cf.register(cmd)
	return cmd
}
