package main

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/starbase/starbase/store/bolt"
)

func newCompactCmd() *cobra.Command {
	var data string
	cmd := &cobra.Command{
		Use:   "compact",
		Short: "Rewrite the embedded store file to return its free pages to the disk (server stopped)",
		Long: `Compact rewrites DATA/starbase.db into a new file holding only its live pages and puts it
in place of the old one. A running node already keeps history to --retain-history and reuses
the pages that frees, so the file stops growing; but it never shrinks by itself after a burst.
The node must be stopped (the file is locked while it serves). The old file stays whole
until the new one is complete and synced, then is replaced in one rename.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			path := filepath.Join(data, "starbase.db")
			before, after, err := bolt.Rewrite(path, bolt.Options{})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "compacted %s: %d -> %d bytes\n", path, before, after)
			return nil
		},
	}
	cmd.Flags().StringVar(&data, "data", "./starbase-data", "the data directory of the stopped node")
	return cmd
}
