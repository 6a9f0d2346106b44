package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

func newTokenCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Create, list and revoke API tokens (needs an admin token)",
		Long: `A token is a secret with a role: reader (read code, history and status), developer (also
commit and revert) or admin (also manage tokens, protected refs and read the audit log).
The server keeps only a hash of each token; a revocation applies at once on every node.`,
	}
	cmd.AddCommand(newTokenCreateCmd(), newTokenListCmd(), newTokenRevokeCmd())
	return cmd
}

func newTokenCreateCmd() *cobra.Command {
	var (
		cf         clientFlags
		name, role string
	)
	cmd := &cobra.Command{
		Use:   "create --name NAME --role ROLE",
		Short: "Create a token and print its secret, which is shown only this once",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := cf.client()
			if err != nil {
				return err
			}
			tok, err := c.CreateToken(cmd.Context(), name, role)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), tok.Secret)
			fmt.Fprintf(cmd.ErrOrStderr(), "created token %s (name %q, role %s); its secret is shown above, and only now\n",
				tok.ID, tok.Name, tok.Role)
			return nil
		},
	}
	cf.register(cmd)
	cmd.Flags().StringVar(&name, "name", "", "who the token is for; it becomes the author of their commits (required)")
	cmd.Flags().StringVar(&role, "role", "", "reader, developer or admin (required)")
	cmd.MarkFlagRequired("name")
	cmd.MarkFlagRequired("role")
	return cmd
}

func newTokenListCmd() *cobra.Command {
	var cf clientFlags
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List every token (never a secret)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := cf.client()
			if err != nil {
				return err
			}
			toks, err := c.Tokens(cmd.Context())
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tROLE\tCREATED")
			for _, t := range toks {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", t.ID, t.Name, t.Role, t.Created.Local().Format(time.DateTime))
			}
			return tw.Flush()
		},
	}
	cf.register(cmd)
	return cmd
}

func newTokenRevokeCmd() *cobra.Command {
	var cf clientFlags
	cmd := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke a token, and every session made with it, on every node at once",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := cf.client()
			if err != nil {
				return err
			}
			tok, err := c.RevokeToken(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "revoked token %s (name %q, role %s)\n", tok.ID, tok.Name, tok.Role)
			return nil
		},
	}
	cf.register(cmd)
	return cmd
}
