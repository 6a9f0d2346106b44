package main

import (
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/starbase/starbase/client"
)

// newRootCmd builds the starbase command tree.
func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "starbase",
		Short:         "An application server whose code lives in a transactional key-value store",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       versionText(),
		// Everything a client command prints is escaped for the terminal (see termWriter):
		// stored content cannot hide lines from whoever reads it. serve writes its log.
		PersistentPreRun: func(cmd *cobra.Command, args []string) {
			if cmd.Name() == "serve" {
				return
			}
			root := cmd.Root()
			root.SetOut(newTermWriter(root.OutOrStdout()))
			root.SetErr(newTermWriter(root.ErrOrStderr()))
		},
		PersistentPostRun: func(cmd *cobra.Command, args []string) {
			for _, w := range []io.Writer{cmd.Root().OutOrStdout(), cmd.Root().ErrOrStderr()} {
				if tw, ok := w.(*termWriter); ok {
					tw.Flush()
				}
			}
		},
	}
	root.SetVersionTemplate("{{.Version}}")
	root.AddCommand(newServeCmd(), newPushCmd(), newPullCmd(), newLogCmd(), newDiffCmd(), newRevertCmd(), newStatusCmd(), newRolloutCmd())
	root.AddCommand(newTokenCmd(), newAuditCmd(), newProtectCmd(), newUnprotectCmd(), newSecretCmd())
	root.AddCommand(newCheckCmd(), newTestCmd(), newMigrateCmd())
	root.AddCommand(newCompactCmd(), newDataCmd(), newBackupCmd(), newRestoreCmd())
	return root
}

// clientFlags are the flags of every command that talks to a server.
type clientFlags struct {
	server   string
	token    string
	insecure bool
}

func (f *clientFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.server, "server", envOr("STARBASE_SERVER", "http://127.0.0.1:8080"), "server URL: http(s)://HOST[:PORT], no path (the API is at /-/api/ of the root) (env STARBASE_SERVER)")
	cmd.Flags().StringVar(&f.token, "token", os.Getenv("STARBASE_TOKEN"), "API token (env STARBASE_TOKEN)")
	cmd.Flags().BoolVar(&f.insecure, "insecure", false, "allow sending the token over plain HTTP to a non-loopback host")
}

func (f *clientFlags) client() (*client.Client, error) {
	return client.New(f.server, client.Options{Token: f.token, Insecure: f.insecure})
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
