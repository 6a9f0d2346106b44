package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"
)

func newLogCmd() *cobra.Command {
	var (
		cf clientFlags
		n  int
	)
	cmd := &cobra.Command{
		Use:   "log",
		Short: "Show main's history, newest first, one commit a line",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := cf.client()
			if err != nil {
				return err
			}
			commits, err := c.Log(cmd.Context(), n)
			if err != nil {
				return err
			}
			for _, co := range commits {
				fmt.Fprintf(cmd.OutOrStdout(), "%s %s %s %s\n", co.ID, co.Time.Local().Format(time.DateTime), co.Author, firstLine(co.Message))
			}
			return nil
		},
	}
	cf.register(cmd)
	cmd.Flags().IntVarP(&n, "n", "n", 20, "number of commits")
	return cmd
}

func firstLine(s string) string {
	for i, r := range s {
		if r == '\n' {
			return s[:i]
		}
	}
	if s == "" {
		return "(no message)"
	}
	return s
}
