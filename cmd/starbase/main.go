// Command starbase runs and manages Starbase, an application server whose code lives in a
// transactional key-value store. Run `starbase help` for the commands.
package main

import (
	"fmt"
	"os"
)

func main() {
	if err := newRootCmd().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "starbase:", termSafe(err.Error()))
		os.Exit(1)
	}
}
