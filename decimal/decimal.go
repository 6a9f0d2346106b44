// Package decimal is the exact decimal number of stored code, for money: decimal("12.50").
// Its arithmetic is github.com/cockroachdb/apd/v3's, without rounding: +, - and * are exact
// (with decimals and ints; a float is refused, since it is not exact), and every rounding
// is explicit, with a named mode:
//
//	d.round(places, rounding = "half_even")      d rounded to places decimals (0 to 100)
//	d.div(y, places, rounding = "half_even")     d / y rounded to places decimals, in one rounding
//
// Modes: "half_even" (banker's), "half_up", "half_down", "up" (away from zero), "down"
// (toward zero), "ceiling", "floor". / and // are refused: a division has no exact
// result in general; div says how to round it.
//
// A decimal keeps its scale: decimal("1.50") prints 1.50, and round(2) of 1.5 is 1.50. Two
// decimals compare by value (1.5 == 1.50, with equal hashes), and compare only with
// decimals (decimal("1") == 1 is False, as 1 == "1" is). str() writes the plain decimal
// text (never an exponent); JSON encodes it as that text, a string, so that no reader
// takes it for a float.
//
// Size: a decimal has at most MaxDigits significant digits and an exponent within
// ±MaxExponent; a result beyond is an error, so every operation is bounded.
package decimal

import (
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"

	"github.com/cockroachdb/apd/v3"
	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
)

// MaxDigits is the most significant digits of a decimal, and MaxExponent the largest
// exponent (in absolute value): decimal("1e-100") and 10**100 - 1 are the extremes.
const (
	MaxDigits   = 100
	MaxExponent = 100
	MaxPlaces   = 100
)

// ErrRange is wrapped by the errors of values and results beyond MaxDigits or MaxExponent.
var ErrRange = errors.New("decimal out of range")

// A Decimal is an immutable exact decimal number.
type Decimal struct{ d apd.Decimal }

var (
	_ starlark.Comparable = (*Decimal)(nil)
	_ starlark.HasBinary  = (*Decimal)(nil)
	_ starlark.HasUnary   = (*Decimal)(nil)
	_ starlark.HasAttrs   = (*Decimal)(nil)
)

// exact is the context of exact arithmetic: precision 0 disables rounding in apd.
var exact = apd.Context{MaxExponent: apd.MaxExponent, MinExponent: apd.MinExponent, Traps: apd.DefaultTraps}

// Parse reads a decimal from its text ("12.50", "-3", "1e-2"); infinities and NaN are
// refused.
func Parse(s string) (*Decimal, error) {
	if len(s) > 3*MaxDigits {
		return nil, fmt.Errorf("%w: %.20q... is longer than %d characters", ErrRange, s, 3*MaxDigits)
	}
	d, _, err := apd.NewFromString(strings.TrimSpace(s))
	if err != nil || d.Form != apd.Finite {
		return nil, fmt.Errorf("decimal: %q is not a decimal number (digits, an optional . and exponent)", s)
	}
	return checked(d)
}

// New returns the decimal coeff × 10^exp.
func New(coeff *big.Int, exp int32) (*Decimal, error) {
	return checked(apd.NewWithBigInt(new(apd.BigInt).SetMathBigInt(coeff), exp))
}

// FromInt returns the decimal of an int.
func FromInt(i starlark.Int) (*Decimal, error) { return New(i.BigInt(), 0) }

func checked(d *apd.Decimal) (*Decimal, error) {
	if d.Negative && d.IsZero() {
		d.Negative = false // one zero: -0 is 0
	}
	if n := d.NumDigits(); n > MaxDigits {
		return nil, fmt.Errorf("%w: %d significant digits, over %d", ErrRange, n, MaxDigits)
	}
	if d.Exponent > MaxExponent || d.Exponent < -MaxExponent {
		return nil, fmt.Errorf("%w: exponent %d, beyond ±%d", ErrRange, d.Exponent, MaxExponent)
	}
	return &Decimal{d: *d}, nil
}

// Coefficient and Exponent give the decimal as coeff × 10^exp.
func (x *Decimal) Coefficient() *big.Int { return x.d.Coeff.MathBigInt() }
func (x *Decimal) Exponent() int32 {
	return x.d.Exponent
}

// Negative reports whether the decimal is below zero.
func (x *Decimal) Negative() bool { return x.d.Negative }

func (x *Decimal) String() string               { return x.d.Text('f') }
func (x *Decimal) Type() string                 { return "decimal" }
func (x *Decimal) Freeze()                      {}
func (x *Decimal) Truth() starlark.Bool         { return starlark.Bool(!x.d.IsZero()) }
func (x *Decimal) MarshalJSON() ([]byte, error) { return []byte(strconv.Quote(x.String())), nil }

// TextLen is the length of x's text (at most about 200 bytes), for the runtime's size
// checks, which cannot tell it from x's attributes.
func (x *Decimal) TextLen() int { return len(x.String()) }

// Hash is the hash of the value without trailing zeros, so that equal decimals hash alike.
func (x *Decimal) Hash() (uint32, error) {
	var r apd.Decimal
	r.Reduce(&x.d)
	return starlark.String(r.Text('E')).Hash()
}

func (x *Decimal) CompareSameType(op syntax.Token, y starlark.Value, _ int) (bool, error) {
	c := x.d.Cmp(&y.(*Decimal).d)
	switch op {
	case syntax.EQL:
		return c == 0, nil
	case syntax.NEQ:
		return c != 0, nil
	case syntax.LT:
		return c < 0, nil
	case syntax.LE:
		return c <= 0, nil
	case syntax.GT:
		return c > 0, nil
	case syntax.GE:
		return c >= 0, nil
	}
	return false, fmt.Errorf("decimal %s decimal: unsupported comparison", op)
}

// operand converts the other operand of a binary operation: a decimal or an int.
func operand(y starlark.Value) (*Decimal, bool, error) {
	switch y := y.(type) {
	case *Decimal:
		return y, true, nil
	case starlark.Int:
		d, err := FromInt(y)
		return d, true, err
	case starlark.Float:
		return nil, false, errors.New("decimal and float do not mix: a float is not exact; make it a decimal from its text, decimal(\"0.1\")")
	}
	return nil, false, nil
}

func (x *Decimal) Binary(op syntax.Token, y starlark.Value, side starlark.Side) (starlark.Value, error) {
	switch op {
	case syntax.SLASH, syntax.SLASHSLASH, syntax.PERCENT:
		if _, ok := y.(*Decimal); ok || side == starlark.Left {
			return nil, fmt.Errorf("decimal %s: refused, a division is rounded: use x.div(y, places, rounding)", op)
		}
	}
	other, ok, err := operand(y)
	if err != nil || !ok {
		return nil, err
	}
	a, b := &x.d, &other.d
	if side == starlark.Right {
		a, b = b, a
	}
	var r apd.Decimal
	switch op {
	case syntax.PLUS:
		_, err = exact.Add(&r, a, b)
	case syntax.MINUS:
		_, err = exact.Sub(&r, a, b)
	case syntax.STAR:
		_, err = exact.Mul(&r, a, b)
	default:
		return nil, nil // unsupported: Starlark says so
	}
	if err != nil {
		return nil, fmt.Errorf("decimal %s: %w", op, err)
	}
	return checked(&r)
}

func (x *Decimal) Unary(op syntax.Token) (starlark.Value, error) {
	switch op {
	case syntax.MINUS:
		var r apd.Decimal
		r.Neg(&x.d)
		return checked(&r)
	case syntax.PLUS:
		return x, nil
	}
	return nil, nil
}

func (x *Decimal) Attr(name string) (starlark.Value, error) {
	switch name {
	case "round":
		return starlark.NewBuiltin("round", x.round), nil
	case "div":
		return starlark.NewBuiltin("div", x.div), nil
	}
	return nil, nil
}

func (x *Decimal) AttrNames() []string { return []string{"div", "round"} }

func (x *Decimal) round(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var places int
	rounding := "half_even"
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "places", &places, "rounding?", &rounding); err != nil {
		return nil, err
	}
	one, _ := New(big.NewInt(1), 0)
	r, err := x.Quo(one, places, rounding)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.Name(), err)
	}
	return r, nil
}

func (x *Decimal) div(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var y starlark.Value
	var places int
	rounding := "half_even"
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "y", &y, "places", &places, "rounding?", &rounding); err != nil {
		return nil, err
	}
	other, ok, err := operand(y)
	if !ok && err == nil {
		err = fmt.Errorf("got %s, want a decimal or an int", y.Type())
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.Name(), err)
	}
	r, err := x.Quo(other, places, rounding)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.Name(), err)
	}
	return r, nil
}

// Roundings are the rounding modes, by name.
var Roundings = []string{"half_even", "half_up", "half_down", "up", "down", "ceiling", "floor"}

// Quo returns x / y rounded to places decimals with the named rounding, in one rounding of
// the exact quotient.
func (x *Decimal) Quo(y *Decimal, places int, rounding string) (*Decimal, error) {
	if places < 0 || places > MaxPlaces {
		return nil, fmt.Errorf("places is %d, want 0 to %d", places, MaxPlaces)
	}
	known := false
	for _, r := range Roundings {
		known = known || r == rounding
	}
	if !known {
		return nil, fmt.Errorf("rounding %q, want one of %s", rounding, strings.Join(Roundings, ", "))
	}
	if y.d.IsZero() {
		return nil, errors.New("division by zero")
	}
	// x / y = (A × 10^ea) / (B × 10^eb); the result is N × 10^-places with
	// N = round(A / B × 10^k), k = ea - eb + places.
	num, den := x.Coefficient(), y.Coefficient()
	k := int64(x.d.Exponent) - int64(y.d.Exponent) + int64(places)
	ten := big.NewInt(10)
	if k >= 0 {
		num.Mul(num, new(big.Int).Exp(ten, big.NewInt(k), nil))
	} else {
		den.Mul(den, new(big.Int).Exp(ten, big.NewInt(-k), nil))
	}
	q, r := new(big.Int).QuoRem(num, den, new(big.Int)) // magnitudes: coefficients are not negative
	negative := x.d.Negative != y.d.Negative
	if r.Sign() != 0 {
		half := new(big.Int).Lsh(r, 1).Cmp(den) // 2r against den: below, at or above half
		var away bool
		switch rounding {
		case "up":
			away = true
		case "ceiling":
			away = !negative
		case "floor":
			away = negative
		case "half_up":
			away = half >= 0
		case "half_down":
			away = half > 0
		case "half_even":
			away = half > 0 || (half == 0 && q.Bit(0) == 1)
		}
		if away {
			q.Add(q, big.NewInt(1))
		}
	}
	if negative {
		q.Neg(q)
	}
	return New(q, int32(-places))
}

// Builtin is the predeclared decimal(x): a decimal from a string ("12.50"), an int or a
// decimal. A float is refused (it is not exact): write its text.
var Builtin = starlark.NewBuiltin("decimal", func(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var x starlark.Value
	if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 1, &x); err != nil {
		return nil, err
	}
	var d *Decimal
	var err error
	switch x := x.(type) {
	case *Decimal:
		return x, nil
	case starlark.String:
		d, err = Parse(string(x))
	case starlark.Int:
		d, err = FromInt(x)
	case starlark.Float:
		err = fmt.Errorf("got float %s, which is not exact: give its text, decimal(%q)", x, x.String())
	default:
		err = fmt.Errorf("got %s, want a string, an int or a decimal", x.Type())
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.Name(), err)
	}
	return d, nil
})
