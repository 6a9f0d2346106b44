package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/starbase/starbase/workdir"
)

func newPullCmd() *cobra.Command {
	var (
		cf     clientFlags
		commit string
		force  bool
	)
	cmd := &cobra.Command{
		Use:   "pull DIR",
		Short: "Write a commit's files (default: main's) into DIR",
		Long: `Pull writes the files of a commit (default: main's) into DIR and records it as DIR's
base. It refuses to overwrite or remove files changed locally since the last pull or push,
unless --force, and removes only files that came from the previous pull or push.

A pull either completes or changes nothing: every check (paths, local changes, files or
directories in the way) runs first, the new files are written into a temporary directory
(next to DIR when DIR does not exist yet, else under DIR/.starbase/) and then renamed into
place, and a failure undoes the renames already made.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := args[0]
			c, err := cf.client()
			if err != nil {
				return err
			}
			files, err := c.Files(cmd.Context(), commit)
			if err != nil {
				return err
			}
			state, err := workdir.LoadState(dir)
			if err != nil {
				return err
			}
			if err := workdir.Apply(dir, state, files.Commit, files.Files, force); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), files.Commit)
			return nil
		},
	}
	cf.register(cmd)
	cmd.Flags().StringVar(&commit, "commit", "", "commit id (or unique prefix) to pull; default main")
	cmd.Flags().BoolVar(&force, "force", false, "overwrite local changes")
	return cmd
}
