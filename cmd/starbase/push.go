package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/starbase/starbase/api"
	"github.com/starbase/starbase/client"
	"github.com/starbase/starbase/workdir"
)

// pushFlags are the flags of `starbase push`.
type pushFlags struct {
	message     string
	ref         string
	force       bool
	noTests     bool
	orphans     []string
	wait        bool
	waitTimeout time.Duration
	watch       bool
	debounce    time.Duration
}

func newPushCmd() *cobra.Command {
	var (
		cf clientFlags
		pf pushFlags
	)
	cmd := &cobra.Command{
		Use:   "push DIR",
		Short: "Make main's tree equal to the files of DIR",
		Long: `Push makes the tree of main equal to the files of DIR (dotfiles and dot-directories
are ignored) in one atomic commit, and prints the new commit id as the last line.
An unchanged tree makes no commit and prints the current commit id.

DIR remembers the commit it was last pulled or pushed from. If main has moved since, push
is refused unless --force; a DIR with no recorded commit may be pushed only while main is
empty, or with --force. No push silently discards someone else's change.

The server runs the validation gate on every push; a refused push lists every problem as
path:line:col: message and changes nothing.

With --watch, push pushes DIR, then again each time a file of DIR is saved (once the
changes have been quiet for --debounce), printing each new commit or the problems that
refused it, until interrupted.

With --ref NAME, push commits DIR on the ref NAME instead of main, whatever NAME was at (a
ref for previews is scratch: each push replaces it), leaving DIR based on main as it was.
The commit passes the same gate; a developer previews it at /-/preview/COMMIT/ and can roll
it out with starbase rollout COMMIT.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := args[0]
			if pf.ref != "" && pf.wait {
				return fmt.Errorf("--wait waits until every node serves main's new commit; a push to --ref %s is served only as a preview (/-/preview/COMMIT/): drop --wait", pf.ref)
			}
			c, err := cf.client()
			if err != nil {
				return err
			}
			if !pf.watch {
				return pushDir(cmd.Context(), c, dir, pf, cmd.OutOrStdout(), cmd.ErrOrStderr())
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return watchPush(ctx, c, dir, pf, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	cf.register(cmd)
	fl := cmd.Flags()
	fl.StringVarP(&pf.message, "message", "m", "", "commit message")
	fl.BoolVar(&pf.force, "force", false, "push even if main moved since DIR's base commit")
	fl.StringVar(&pf.ref, "ref", "", "push to this ref instead of main, replacing what it held (for a preview); DIR stays based on main")
	fl.BoolVar(&pf.noTests, "no-tests", false, "skip the tests of the validation gate (recorded on the commit)")
	fl.StringArrayVar(&pf.orphans, "orphan", nil, "a class with stored objects that the new code no longer declares, to leave as plain records (repeatable; else the gate refuses the push)")
	fl.BoolVar(&pf.wait, "wait", false, "return only when every live node serves the new commit")
	fl.DurationVar(&pf.waitTimeout, "wait-timeout", 30*time.Second, "how long --wait waits")
	fl.BoolVar(&pf.watch, "watch", false, "keep pushing DIR each time a file is saved")
	fl.DurationVar(&pf.debounce, "debounce", defaultDebounce, "with --watch, how long changes must be quiet before a push")
	return cmd
}

// pushDir pushes the files of dir and records the new commit in dir; with --wait, it waits
// until every live node serves it. It prints the commit id to stdout.
func pushDir(ctx context.Context, c *client.Client, dir string, pf pushFlags, stdout, stderr io.Writer) error {
	files, err := workdir.Read(dir)
	if err != nil {
		return err
	}
	state, err := workdir.LoadState(dir)
	if err != nil {
		return err
	}
	req := api.PushRequest{
		Expected: state.Commit,
		Force:    pf.force,
		Message:  pf.message,
		NoTests:  pf.noTests,
		Files:    files,
		Orphans:  pf.orphans,
	}
	if pf.ref != "" {
		req.Ref, req.Expected, req.Force = pf.ref, "", true
	}
	res, err := c.Push(ctx, req)
	if err != nil {
		return err
	}
	if pf.ref == "" {
		if err := workdir.SaveState(dir, res.Commit, files); err != nil {
			return fmt.Errorf("pushed %s, but recording it in %s failed: %w", res.Commit, dir, err)
		}
	}
	if !res.Changed {
		fmt.Fprintln(stderr, "nothing changed")
	}
	if pf.wait {
		if err := waitForNodes(ctx, c, res, pf.waitTimeout); err != nil {
			return err
		}
	}
	fmt.Fprintln(stdout, res.Commit)
	return nil
}

// watchPush pushes dir now and after every burst of saved changes, until ctx ends. A push
// that fails (a refused tree, an unreachable server) is reported and the watch goes on.
func watchPush(ctx context.Context, c *client.Client, dir string, pf pushFlags, stdout, stderr io.Writer) error {
	push := func() {
		if err := pushDir(ctx, c, dir, pf, stdout, stderr); err != nil && ctx.Err() == nil {
			fmt.Fprintf(stderr, "push failed: %v\n", err)
		}
	}
	if _, err := os.Stat(dir); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "watching %s for changes (Ctrl-C to stop)\n", dir)
	return watchDir(ctx, dir, pf.debounce, stderr, push)
}
