package main

import (
	"fmt"
	"io"
	"slices"

	"github.com/spf13/cobra"
)

func newProtectCmd() *cobra.Command {
	var cf clientFlags
	cmd := &cobra.Command{
		Use:   "protect [REF...]",
		Short: "Make refs movable only by admin tokens; without REF, list the protected refs",
		Long: `Protect adds refs to the protected refs: a push, revert or ref move of a protected ref
needs an admin token (a session never has one). Changing the list needs an admin token.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := cf.client()
			if err != nil {
				return err
			}
			refs, err := c.ProtectedRefs(cmd.Context())
			if err != nil {
				return err
			}
			if len(args) > 0 {
				if refs, err = c.SetProtectedRefs(cmd.Context(), append(refs, args...)); err != nil {
					return err
				}
			}
			writeRefs(cmd.OutOrStdout(), refs)
			return nil
		},
	}
	cf.register(cmd)
	return cmd
}

func newUnprotectCmd() *cobra.Command {
	var cf clientFlags
	cmd := &cobra.Command{
		Use:   "unprotect REF...",
		Short: "Let developers move refs again (needs an admin token)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := cf.client()
			if err != nil {
				return err
			}
			refs, err := c.ProtectedRefs(cmd.Context())
			if err != nil {
				return err
			}
			refs = slices.DeleteFunc(refs, func(r string) bool { return slices.Contains(args, r) })
			if refs, err = c.SetProtectedRefs(cmd.Context(), refs); err != nil {
				return err
			}
			writeRefs(cmd.OutOrStdout(), refs)
			return nil
		},
	}
	cf.register(cmd)
	return cmd
}

func writeRefs(w io.Writer, refs []string) {
	if len(refs) == 0 {
		fmt.Fprintln(w, "no protected refs")
		return
	}
	for _, r := range refs {
		fmt.Fprintln(w, r)
	}
}
