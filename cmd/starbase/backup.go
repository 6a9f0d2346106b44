package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/starbase/starbase/backup"
)

func newBackupCmd() *cobra.Command {
	var cf clientFlags
	cmd := &cobra.Command{
		Use:   "backup FILE",
		Short: "Write a backup of a running node's store and data to FILE (needs an admin token)",
		Long: `Backup asks a running node for a backup (GET /-/api/backup) and writes it to FILE: every
key of the store at one revision (code, refs, tokens, sessions, audit) and every object of the
data tier read in one snapshot (SQLite or PostgreSQL; with --data-url kv the objects are
store keys). The node goes on serving and writing meanwhile; everything it acknowledged before
the backup started is in it. The backup is recorded in the audit log.

The file is written as FILE.partial, checked as it arrives (every frame's checksum, the
counts and the SHA-256 of the whole file), and renamed to FILE only when whole. FILE must not
exist. Restore it with starbase restore.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := args[0]
			if _, err := os.Stat(path); err == nil {
				return fmt.Errorf("%s exists: choose a new file name", path)
			}
			c, err := cf.client()
			if err != nil {
				return err
			}
			partial := path + ".partial"
			f, err := os.OpenFile(partial, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if err != nil {
				return err
			}
			defer os.Remove(partial) // a no-op once renamed
			defer f.Close()
			// The stream is written to the file and checked at once: a reader on a pipe.
			pr, pw := io.Pipe()
			checked := make(chan error, 1)
			var h backup.Header
			var t backup.Trailer
			go func() {
				var err error
				h, t, err = backup.Check(pr)
				pr.CloseWithError(err) // unblocks the writer if the check stopped early
				checked <- err
			}()
			n, err := c.Backup(cmd.Context(), io.MultiWriter(f, pw))
			pw.CloseWithError(err)
			cerr := <-checked
			if err != nil {
				return err
			}
			if cerr != nil {
				return fmt.Errorf("the backup received is not whole (%d bytes): %w", n, cerr)
			}
			if err := f.Sync(); err != nil {
				return err
			}
			if err := f.Close(); err != nil {
				return err
			}
			if err := os.Rename(partial, path); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "backup of %s at revision %d written to %s: %d keys, %d objects (%s), %d bytes\n",
				h.Node, h.Revision, path, t.Keys, t.Objects, h.Data, n)
			return nil
		},
	}
	cf.register(cmd)
	return cmd
}

func newRestoreCmd() *cobra.Command {
	var f dataTierFlags
	cmd := &cobra.Command{
		Use:   "restore FILE",
		Short: "Restore a backup into a new, empty store and data tier (no node running on them)",
		Long: `Restore writes the backup FILE into an empty store: by default DATA/starbase.db and
DATA/data.sqlite in --data (created when missing), or the etcd cluster of --etcd under
--etcd-prefix and the data tier of --data-url, as serve would open them. It refuses a store
that holds any key or a data tier that holds any object: a restore never merges.

The whole file is checked first (every frame's checksum, the order of keys and objects, the
counts and the SHA-256): a damaged or truncated backup is refused before anything is
written. A restore that stops halfway (a full disk, etcd down) leaves a store that serve
refuses: restore again into a new, empty one. After a restore, start serve with the same
flags; tokens are those of the backup.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			file, err := os.Open(args[0])
			if err != nil {
				return err
			}
			defer file.Close()
			if _, _, err := backup.Check(file); err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			if _, err := file.Seek(0, io.SeekStart); err != nil {
				return err
			}
			if f.store.etcd == "" {
				if err := os.MkdirAll(f.data, 0o700); err != nil {
					return fmt.Errorf("creating data directory: %w", err)
				}
			}
			logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
			st, data, closeNode, err := openNode(ctx, &f.store, f.data, f.dataURL, logger)
			if err != nil {
				return err
			}
			defer closeNode()
			sum, err := backup.Restore(ctx, file, backup.Target{Store: st, Data: data})
			if err != nil {
				if errors.Is(err, backup.ErrNotEmpty) {
					return err
				}
				return fmt.Errorf("restoring %s: %w", args[0], err)
			}
			where := filepath.Join(f.data, "starbase.db")
			if f.store.etcd != "" {
				where = "etcd " + f.store.etcd + " under " + f.store.etcdPrefix
			}
			fmt.Fprintf(cmd.OutOrStdout(), "restored the backup of %s at revision %d (taken %s) into %s: %d keys, %d objects into %s\n",
				sum.Header.Node, sum.Header.Revision, sum.Header.Created.Format("2006-01-02 15:04:05Z"), where,
				sum.Trailer.Keys, sum.Trailer.Objects, data.Name())
			return nil
		},
	}
	f.register(cmd)
	return cmd
}
