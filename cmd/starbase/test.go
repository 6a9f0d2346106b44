package main

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/spf13/cobra"

	"github.com/starbase/starbase/gate"
	"github.com/starbase/starbase/workdir"
)

// errTestsFailed is returned by `starbase test` when a test failed or the tree has problems.
var errTestsFailed = errors.New("tests failed")

func newTestCmd() *cobra.Command {
	var (
		gf  gateFlags
		run string
	)
	cmd := &cobra.Command{
		Use:   "test DIR",
		Short: "Run the tests of DIR, without a server",
		Long: `Test runs the test_* functions of every *_test.star module of DIR, each in the sandbox
on a fresh thread, as the server's validation gate does. Test modules have the assert
module predeclared: assert.eq, ne, true, false, contains and fails.

It prints a PASS or FAIL line per test (with the traceback of each failure), the other
problems of the tree as path:line:col: message, then "N passed, N failed". It exits
non-zero if a test failed or the tree has a problem.`,
		// Flags are parsed in RunE, so that -run is accepted as go test spells it.
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := cmd.Flags().Parse(goStyleFlags(args, "run")); err != nil {
				return err
			}
			if help, _ := cmd.Flags().GetBool("help"); help {
				return cmd.Help()
			}
			args = cmd.Flags().Args()
			if err := cobra.ExactArgs(1)(cmd, args); err != nil {
				return err
			}
			var re *regexp.Regexp
			if run != "" {
				var err error
				if re, err = regexp.Compile(run); err != nil {
					return fmt.Errorf("-run: invalid regular expression: %w", err)
				}
			}
			files, err := workdir.Read(args[0])
			if err != nil {
				return err
			}
			opts, release, err := gf.options(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			defer release()
			opts.Run = re
			rep, err := gate.Run(cmd.Context(), files, opts)
			if err != nil {
				return err
			}

			out := cmd.OutOrStdout()
			passed, failed := 0, 0
			testProblems := map[string]bool{}
			for _, t := range rep.Tests {
				elapsed := fmt.Sprintf("%.2fs", t.Elapsed.Seconds())
				if t.Passed() {
					passed++
					fmt.Fprintf(out, "PASS %s:%s (%s)\n", t.Module, t.Name, elapsed)
					continue
				}
				failed++
				testProblems[t.Problem.String()] = true
				fmt.Fprintf(out, "FAIL %s:%s (%s)\n", t.Module, t.Name, elapsed)
				for _, line := range strings.Split(t.Traceback.String(), "\n") {
					fmt.Fprintf(out, "    %s\n", line)
				}
			}
			problems := 0
			for _, p := range rep.Problems {
				if !testProblems[p.String()] {
					problems++
					fmt.Fprintln(out, p)
				}
			}
			fmt.Fprintf(out, "%d passed, %d failed\n", passed, failed)
			switch {
			case failed > 0 && problems > 0:
				return fmt.Errorf("%w, and the tree has %d other problem(s)", errTestsFailed, problems)
			case failed > 0:
				return errTestsFailed
			case problems > 0:
				return fmt.Errorf("%d problem(s) in %s", problems, args[0])
			}
			return nil
		},
	}
	gf.register(cmd)
	cmd.Flags().StringVar(&run, "run", "", `run only the tests whose "path:name" matches this regular expression`)
	return cmd
}

// goStyleFlags rewrites the single-dash long flags names (-run, -run=X) of args to their
// double-dash form, which is how the flag package parses them.
func goStyleFlags(args []string, names ...string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = a
		for _, name := range names {
			if a == "-"+name || strings.HasPrefix(a, "-"+name+"=") {
				out[i] = "-" + a
			}
		}
		if a == "--" {
			copy(out[i:], args[i:])
			break
		}
	}
	return out
}
