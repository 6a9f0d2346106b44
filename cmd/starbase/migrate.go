package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newMigrateCmd() *cobra.Command {
	var (
		cf    clientFlags
		batch int
	)
	cmd := &cobra.Command{
		Use:   "migrate MODULE:CLASS",
		Short: "Upgrade every stored object of a class to its current version",
		Long: `Migrate runs the class's migrate function, as defined in the commit the server serves,
on every stored object of an older version, in batches, and stores them upgraded. Objects are
also upgraded when read, so migrating is optional; it is resumable: run it again after an
interruption and it continues where it stopped.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := cf.client()
			if err != nil {
				return err
			}
			res, err := c.Migrate(cmd.Context(), args[0], batch)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "migrated %s with commit %.12s: %d objects visited\n", res.Class, res.Commit, res.Visited)
			return nil
		},
	}
	cf.register(cmd)
	cmd.Flags().IntVar(&batch, "batch", 100, "objects per transaction")
	return cmd
}
