package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/starbase/starbase/api"
	"github.com/starbase/starbase/workdir"
)

func newPushCmd() *cobra.Command {
	var (
		cf          clientFlags
		message     string
		force       bool
		wait        bool
		waitTimeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "push DIR",
		Short: "Make main's tree equal to the files of DIR",
		Long: `Push makes the tree of main equal to the files of DIR (dotfiles and dot-directories
are ignored) in one atomic commit, and prints the new commit id as the last line.
An unchanged tree makes no commit and prints the current commit id.

DIR remembers the commit it was last pulled or pushed from. If main has moved since, push
is refused unless --force; a DIR with no recorded commit may be pushed only while main is
empty, or with --force. No push silently discards someone else's change.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := args[0]
			c, err := cf.client()
			if err != nil {
				return err
			}
			files, err := workdir.Read(dir)
			if err != nil {
				return err
			}
			state, err := workdir.LoadState(dir)
			if err != nil {
				return err
			}
			res, err := c.Push(cmd.Context(), api.PushRequest{
				Expected: state.Commit,
				Force:    force,
				Message:  message,
				Files:    files,
			})
			if err != nil {
				return err
			}
			if err := workdir.SaveState(dir, res.Commit, files); err != nil {
				return fmt.Errorf("pushed %s, but recording it in %s failed: %w", res.Commit, dir, err)
			}
			if !res.Changed {
				fmt.Fprintln(cmd.ErrOrStderr(), "nothing changed")
			}
			if wait {
				if err := waitForNodes(cmd.Context(), c, res, waitTimeout); err != nil {
					return err
				}
			}
			fmt.Fprintln(cmd.OutOrStdout(), res.Commit)
			return nil
		},
	}
	cf.register(cmd)
	cmd.Flags().StringVarP(&message, "message", "m", "", "commit message")
	cmd.Flags().BoolVar(&force, "force", false, "push even if main moved since DIR's base commit")
	cmd.Flags().BoolVar(&wait, "wait", false, "return only when every live node serves the new commit")
	cmd.Flags().DurationVar(&waitTimeout, "wait-timeout", 30*time.Second, "how long --wait waits")
	return cmd
}
