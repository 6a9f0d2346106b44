package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newRevertCmd() *cobra.Command {
	var cf clientFlags
	cmd := &cobra.Command{
		Use:   "revert ID",
		Short: "Make a new commit on main whose tree is commit ID's; print its id",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := cf.client()
			if err != nil {
				return err
			}
			res, err := c.Revert(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), res.Commit)
			return nil
		},
	}
	cf.register(cmd)
	return cmd
}
