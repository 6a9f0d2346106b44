package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/starbase/starbase/gate"
	"github.com/starbase/starbase/runtime"
	"github.com/starbase/starbase/sandbox"
	"github.com/starbase/starbase/server"
	"github.com/starbase/starbase/workdir"
)

// gateFlags are the flags of the commands that run the validation gate locally.
type gateFlags struct {
	limits  runtime.Limits
	verbose bool
}

func (f *gateFlags) register(cmd *cobra.Command) {
	f.limits = runtime.DefaultLimits()
	fl := cmd.Flags()
	fl.Uint64Var(&f.limits.MaxSteps, "max-steps", f.limits.MaxSteps, "Starlark steps per test and per module load")
	fl.DurationVar(&f.limits.Timeout, "timeout", f.limits.Timeout, "wall time per test")
	fl.DurationVar(&f.limits.LoadTimeout, "load-timeout", f.limits.LoadTimeout, "wall time per module load")
	fl.BoolVarP(&f.verbose, "verbose", "v", false, "show what the code print()s")
}

// options returns the gate options of a local check, with a loader built as the server
// builds its own (the same predeclared names), and a function that releases it.
func (f *gateFlags) options(stderr io.Writer) (gate.Options, func(), error) {
	logger := slog.New(slog.DiscardHandler)
	if f.verbose {
		logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{
			ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
				if a.Key == slog.TimeKey || a.Key == slog.LevelKey {
					return slog.Attr{}
				}
				return a
			},
		}))
	}
	loader, err := runtime.New(runtime.Options{Limits: f.limits, Logger: logger, Predeclared: sandbox.Predeclared()})
	if err != nil {
		return gate.Options{}, nil, err
	}
	opts := gate.Options{Loader: loader, Limits: f.limits, Logger: logger, App: &server.TestHost{Limits: f.limits, Logger: logger}}
	return opts, func() { loader.Close() }, nil
}

func newCheckCmd() *cobra.Command {
	var (
		gf      gateFlags
		noTests bool
	)
	cmd := &cobra.Command{
		Use:   "check DIR",
		Short: "Run the validation gate on DIR, without a server",
		Long: `Check runs on the files of DIR the validation gate every push passes on the server
(the same code): every module parses, resolves and loads; every load() names a module of
the tree and names it defines; no load cycles; the app builds as a node builds it (routes
are valid ServeMux patterns in no conflict, handlers take one parameter, templates parse,
are text, define each name once and escape for their HTML contexts; models are bound to
their names); every test_* function of every *_test.star module passes.

Each problem is printed as path:line:col: message. Check exits non-zero if there is any.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			files, err := workdir.Read(args[0])
			if err != nil {
				return err
			}
			opts, release, err := gf.options(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			defer release()
			opts.NoTests = noTests
			err = gate.Check(cmd.Context(), files, opts)
			var gerr *gate.Error
			if errors.As(err, &gerr) {
				for _, p := range gerr.Problems {
					fmt.Fprintln(cmd.OutOrStdout(), p)
				}
				return fmt.Errorf("%s: %d problem(s)", args[0], len(gerr.Problems))
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "ok: %d files\n", len(files))
			return nil
		},
	}
	gf.register(cmd)
	cmd.Flags().BoolVar(&noTests, "no-tests", false, "skip running the tests (the other checks still run)")
	return cmd
}
