package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/starbase/starbase/backup"
	"github.com/starbase/starbase/store/bolt"
	"github.com/starbase/starbase/store/etcd"
)

// version is the release this binary was built as, set at build time with
// -ldflags "-X main.version=v1.2.3"; when empty, the module version Go recorded is used
// ("(devel)" for a build from a checkout).
var version string

// buildInfo describes this binary: its version and, when built from a checkout, the commit
// of the source (with "+dirty" when it had uncommitted changes).
type buildInfo struct {
	Version   string
	Commit    string
	GoVersion string
}

func readBuildInfo() buildInfo {
	bi := buildInfo{Version: version, GoVersion: runtime.Version()}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		if bi.Version == "" {
			bi.Version = "unknown"
		}
		return bi
	}
	if bi.Version == "" {
		bi.Version = info.Main.Version
	}
	dirty := false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			bi.Commit = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if bi.Commit != "" && dirty {
		bi.Commit += "+dirty"
	}
	return bi
}

// binaryVersion is the version and commit of this binary in one string, for metrics.
func binaryVersion() string {
	bi := readBuildInfo()
	if bi.Commit != "" {
		return bi.Version + " " + bi.Commit
	}
	return bi.Version
}

// versionText is what `starbase --version` prints: the binary, the store formats it reads
// (and writes: a store is always written in the newest format) and the backup formats it
// reads (it writes the newest).
func versionText() string {
	bi := readBuildInfo()
	commit := ""
	if bi.Commit != "" {
		commit = " commit " + bi.Commit
	}
	return fmt.Sprintf("starbase %s%s %s\nstore formats: bolt %d, etcd %d (a store of a newer format is refused)\nbackup formats: 1 to %d (backups are written in format %d)\n",
		bi.Version, commit, bi.GoVersion, bolt.FormatVersion, etcd.FormatVersion, backup.FormatVersion, backup.FormatVersion)
}
