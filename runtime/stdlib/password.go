package stdlib

import (
	"errors"
	"fmt"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
	"golang.org/x/crypto/bcrypt"

	"github.com/starbase/starbase/runtime"
)

const (
	// PasswordCost is the bcrypt cost of password.hash: 2^10 rounds, 77ms of one core of
	// the idle development machine (go test -bench PasswordHash ./runtime/stdlib; 350ms
	// while other jobs shared its two cores), within a request's time limit with room to
	// spare.
	PasswordCost = 10

	// MaxPasswordCost is the highest bcrypt cost password.verify accepts: a hash made
	// elsewhere at a higher cost (each step doubles the work) could hold a request for
	// seconds.
	MaxPasswordCost = 12

	// stepsPerRound is what one bcrypt round is charged to the step budget: a hash at
	// PasswordCost costs 1,024,000 steps, a tenth of the default budget.
	stepsPerRound = 1000

	// maxPasswordBytes is bcrypt's limit: it reads 72 bytes of a password, no more.
	maxPasswordBytes = 72
)

// passwordModule hashes passwords with bcrypt (golang.org/x/crypto/bcrypt):
//
//	password.hash(pw)           a new salted hash of pw, a string of 60 characters
//	                            ("$2a$10$..."), to store instead of the password
//	password.verify(pw, hash)   whether pw is the password hash was made from
//
// pw is a string or bytes of 1 to 72 bytes (bcrypt reads no more, so a longer one is
// refused rather than silently truncated).
var passwordModule = &starlarkstruct.Module{
	Name: "password",
	Members: starlark.StringDict{
		"hash":   starlark.NewBuiltin("password.hash", passwordHash),
		"verify": starlark.NewBuiltin("password.verify", passwordVerify),
	},
}

// passwordArg returns the password argument v.
func passwordArg(b *starlark.Builtin, v starlark.Value) ([]byte, error) {
	pw, err := text(b.Name(), "password", v)
	if err != nil {
		return nil, err
	}
	if len(pw) == 0 || len(pw) > maxPasswordBytes {
		return nil, fmt.Errorf("%s: the password is %d bytes, want 1 to %d (bcrypt reads no more)", b.Name(), len(pw), maxPasswordBytes)
	}
	return []byte(pw), nil
}

func passwordHash(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var v starlark.Value
	if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 1, &v); err != nil {
		return nil, err
	}
	pw, err := passwordArg(b, v)
	if err != nil {
		return nil, err
	}
	if err := runtime.ChargeSteps(thread, stepsPerRound<<PasswordCost); err != nil {
		return nil, err
	}
	h, err := bcrypt.GenerateFromPassword(pw, PasswordCost)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.Name(), err)
	}
	return starlark.String(h), nil
}

func passwordVerify(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var v starlark.Value
	var hash string
	if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 2, &v, &hash); err != nil {
		return nil, err
	}
	pw, err := passwordArg(b, v)
	if err != nil {
		return nil, err
	}
	cost, err := bcrypt.Cost([]byte(hash))
	if err != nil {
		return nil, fmt.Errorf("%s: the hash is not one password.hash made (%w)", b.Name(), err)
	}
	if cost > MaxPasswordCost {
		return nil, fmt.Errorf("%s: %w: the hash has cost %d, over the limit of %d", b.Name(), ErrPasswordCost, cost, MaxPasswordCost)
	}
	if err := runtime.ChargeSteps(thread, stepsPerRound<<cost); err != nil {
		return nil, err
	}
	err = bcrypt.CompareHashAndPassword([]byte(hash), pw)
	if errors.Is(err, bcrypt.ErrMismatchedHashAndPassword) {
		return starlark.False, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s: the hash is not one password.hash made (%w)", b.Name(), err)
	}
	return starlark.True, nil
}
