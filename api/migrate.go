package api

// MigrateRequest asks to upgrade every stored object of Class ("module.star:Name") to the
// class's current version, in batches of Batch objects (default 100).
type MigrateRequest struct {
	Class string `json:"class"`
	Batch int    `json:"batch,omitempty"`
}

// MigrateResult reports a finished migration.
type MigrateResult struct {
	Class   string `json:"class"`
	Commit  string `json:"commit"`  // the commit whose class definition was used
	Visited int    `json:"visited"` // objects visited by this run (a resumed run visits the rest)
}
