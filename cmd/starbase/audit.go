package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/starbase/starbase/api"
)

// auditPathsShown is how many changed paths a line of `starbase audit` lists.
const auditPathsShown = 5

func newAuditCmd() *cobra.Command {
	var (
		cf     clientFlags
		n      int
		after  string
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Show the audit log, newest first (needs an admin token)",
		Long: `Audit shows who changed what, and every refused attempt: commits, reverts, ref moves,
token creations and revocations, logins, logouts, settings, and requests refused for a
missing, wrong or revoked credential or a role too low. Each record was written in the same
store transaction as the change it records; REV is that transaction's store revision.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := cf.client()
			if err != nil {
				return err
			}
			recs, err := c.Audit(cmd.Context(), n, after)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(recs)
			}
			return writeAudit(cmd.OutOrStdout(), recs)
		},
	}
	cf.register(cmd)
	cmd.Flags().IntVarP(&n, "n", "n", 20, "number of records")
	cmd.Flags().StringVar(&after, "after", "", "show records older than the one with this key (see --json)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the records as JSON, every changed path included")
	return cmd
}

func writeAudit(w io.Writer, recs []api.AuditRecord) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "REV\tTIME\tACTION\tACTOR\tSOURCE\tDETAIL")
	for _, rec := range recs {
		actor := rec.Actor
		switch {
		case actor == "":
			actor = "-"
		case rec.Session:
			actor += " (session)"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", rec.Revision, rec.Time.Local().Format(time.DateTime),
			rec.Action, actor, rec.Source, auditDetail(rec))
	}
	return tw.Flush()
}

// auditDetail summarizes what a record is about on one line.
func auditDetail(rec api.AuditRecord) string {
	var parts []string
	if rec.Status != 0 {
		parts = append(parts, fmt.Sprintf("%d %s %s: %s", rec.Status, rec.Method, rec.Path, oneLine(rec.Reason)))
	}
	if rec.Ref != "" {
		parts = append(parts, fmt.Sprintf("%s %s -> %s", rec.Ref, shortOrNone(rec.Parent), shortOrNone(rec.Commit)))
	}
	if rec.Target != "" {
		parts = append(parts, "target "+shortOrNone(rec.Target))
	}
	if rec.Detail != "" {
		parts = append(parts, rec.Detail)
	}
	if total := len(rec.Paths) + rec.MorePaths; total > 0 {
		var shown []string
		for i, p := range rec.Paths {
			if i == auditPathsShown {
				break
			}
			shown = append(shown, p.Status+" "+p.Path)
		}
		more := ""
		if total > len(shown) {
			more = fmt.Sprintf(", +%d more", total-len(shown))
		}
		parts = append(parts, fmt.Sprintf("%d path(s): %s%s", total, strings.Join(shown, ", "), more))
	}
	return strings.Join(parts, "; ")
}

func shortOrNone(id string) string {
	switch {
	case id == "":
		return "(none)"
	case len(id) > 12:
		return id[:12]
	}
	return id
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
