package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/starbase/starbase/objects"
	"github.com/starbase/starbase/store"
)

// dataTierFlags name a data tier as serve does: --data, --data-url and, for the kv tier,
// the store flags.
type dataTierFlags struct {
	data    string
	dataURL string
	store   storeFlags
}

func (f *dataTierFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.data, "data", "./starbase-data", "the node's data directory (its SQLite file, or its store for --data-url kv)")
	fl.StringVar(&f.dataURL, "data-url", "", "the data tier, as for serve: sqlite (default), sqlite:PATH, postgres://..., or kv")
	f.store.register(fl)
}

// open opens the data tier, and the store too when the tier is kv. close releases both.
func (f *dataTierFlags) open(ctx context.Context) (eng objects.Engine, close func(), err error) {
	var st store.Store
	if f.dataURL == "kv" || (f.dataURL == "" && f.store.etcd != "") {
		if st, err = f.store.open(ctx, f.data); err != nil {
			return nil, nil, err
		}
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	eng, err = openDataTier(ctx, f.dataURL, f.store.etcd != "", f.data, st, logger)
	if err != nil {
		if st != nil {
			st.Close()
		}
		return nil, nil, err
	}
	return eng, func() {
		eng.Close()
		if st != nil {
			st.Close()
		}
	}, nil
}

func newDataCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "data",
		Short: "Export or import the objects of a data tier (JSON lines)",
		Long: `Export writes every object of a data tier as JSON lines, in id order, one object a line
with its id, class, version and exact record; import writes such lines into a data tier. They
move data between the tiers (kv, SQLite, PostgreSQL) and serve as a consistent copy of a
stopped node's data. Import skips objects the tier already holds with the same record, so an
interrupted import can be run again; an object held with another record stops it.

The embedded store and SQLite file are locked by a running node: stop it first, or export
from PostgreSQL or etcd, which a running cluster shares.`,
	}
	var exp dataTierFlags
	var out string
	export := &cobra.Command{
		Use:   "export",
		Short: "Write every object of the data tier to stdout (or -o FILE) as JSON lines",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			eng, closeTier, err := exp.open(cmd.Context())
			if err != nil {
				return err
			}
			defer closeTier()
			w := cmd.OutOrStdout()
			if out != "" && out != "-" {
				f, err := os.Create(out)
				if err != nil {
					return err
				}
				defer f.Close()
				w = f
			}
			n, err := objects.Export(cmd.Context(), eng, w)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "exported %d objects from %s\n", n, eng.Name())
			return nil
		},
	}
	exp.register(export)
	export.Flags().StringVarP(&out, "output", "o", "", "write to this file instead of stdout")

	var imp dataTierFlags
	importCmd := &cobra.Command{
		Use:   "import FILE",
		Short: "Write the objects of an export (FILE, or - for stdin) into the data tier",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var r io.Reader = cmd.InOrStdin()
			if args[0] != "-" {
				f, err := os.Open(args[0])
				if err != nil {
					return err
				}
				defer f.Close()
				r = f
			}
			eng, closeTier, err := imp.open(cmd.Context())
			if err != nil {
				return err
			}
			defer closeTier()
			n, err := objects.Import(cmd.Context(), eng, r)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "imported %d objects into %s\n", n, eng.Name())
			return nil
		},
	}
	imp.register(importCmd)
	cmd.AddCommand(export, importCmd)
	return cmd
}
