package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"
)

func newSecretCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "secret",
		Short: "Manage the key of the app's user sessions and CSRF tokens (needs an admin token)",
		Long: `The server seals the sessions of the app's users (the session module) and makes their CSRF
tokens with a key it keeps in its store, which stored code cannot read. Rotate it when it
may have leaked, or on a schedule.`,
	}
	cmd.AddCommand(newSecretRotateCmd())
	return cmd
}

func newSecretRotateCmd() *cobra.Command {
	var (
		cf    clientFlags
		grace time.Duration
	)
	cmd := &cobra.Command{
		Use:   "rotate [--grace DURATION]",
		Short: "Make a new session key; the old one still opens sessions for the grace period",
		Long: `Rotate makes a new key that seals every session cookie and CSRF token from then on (every
node uses it within seconds). The keys it replaces still open cookies and verify tokens for
the grace period (default 168h, as long as a session lasts, so that nobody is logged out),
then they are dropped. To log everyone out at once, give --grace 1s.
The rotation is recorded in the audit log.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.Flags().Changed("grace") && grace < time.Second {
				return fmt.Errorf("--grace must be at least 1s (the keys replaced then open nothing after a second), got %v", grace)
			}
			c, err := cf.client()
			if err != nil {
				return err
			}
			res, err := c.RotateSecret(cmd.Context(), grace)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "new app session key %s; the keys it replaced open sessions for %v more\n",
				res.KeyID, time.Duration(res.GraceSeconds)*time.Second)
			return nil
		},
	}
	cf.register(cmd)
	cmd.Flags().DurationVar(&grace, "grace", 0, "how long the replaced keys still open sessions (default 168h)")
	return cmd
}
