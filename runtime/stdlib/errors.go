package stdlib

import "errors"

var (
	// ErrNoClock is returned by time.now() where there is no request clock: at a module's
	// top level, whose globals must not depend on the time.
	ErrNoClock = errors.New("no clock")

	// ErrPasswordCost is returned by password.verify for a bcrypt hash whose cost is above
	// MaxPasswordCost: checking it would take longer than a request may.
	ErrPasswordCost = errors.New("password hash cost too high")
)
