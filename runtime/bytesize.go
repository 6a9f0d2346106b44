package runtime

import (
	"fmt"
	"strconv"
	"strings"
)

// ByteSize is a number of bytes. It prints and parses with binary units ("64MiB"), so that
// a Limits field can be a command-line flag directly: it implements the Set, String and
// Type methods of the flag packages' Value interface.
type ByteSize int64

// Binary units of ByteSize.
const (
	KiB ByteSize = 1 << 10
	MiB ByteSize = 1 << 20
	GiB ByteSize = 1 << 30
	TiB ByteSize = 1 << 40
)

var byteUnits = []struct {
	suffix string
	size   ByteSize
}{
	// Longest suffixes first, so that "MiB" is not read as "B".
	{"TiB", TiB}, {"GiB", GiB}, {"MiB", MiB}, {"KiB", KiB},
	{"TB", 1e12}, {"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}, {"kB", 1e3},
	{"T", TiB}, {"G", GiB}, {"M", MiB}, {"K", KiB}, {"k", KiB},
	{"B", 1},
}

// String returns b in the largest binary unit it reaches: exactly when the unit divides it
// ("64MiB"), otherwise rounded to one decimal ("1.5GiB"); below 1 KiB in bytes ("900B").
func (b ByteSize) String() string {
	if b < 0 {
		return "-" + (-b).String()
	}
	for _, u := range byteUnits[:4] {
		switch {
		case b < u.size:
			continue
		case b%u.size == 0:
			return strconv.FormatInt(int64(b/u.size), 10) + u.suffix
		default:
			return strconv.FormatFloat(float64(b)/float64(u.size), 'f', 1, 64) + u.suffix
		}
	}
	return strconv.FormatInt(int64(b), 10) + "B"
}

// Set parses s: a whole number of bytes, optionally followed by a unit: KiB, MiB, GiB,
// TiB (or K, M, G, T), KB, MB, GB, TB (powers of 1000) or B. A leading "-" is allowed.
func (b *ByteSize) Set(s string) error {
	num, unit := strings.TrimSpace(s), ByteSize(1)
	for _, u := range byteUnits {
		if strings.HasSuffix(num, u.suffix) {
			num, unit = strings.TrimSpace(strings.TrimSuffix(num, u.suffix)), u.size
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil {
		return fmt.Errorf("invalid size %q: want a whole number of bytes with an optional unit, like 512KiB or 64MiB", s)
	}
	if n > int64(1<<62)/int64(unit) || n < -int64(1<<62)/int64(unit) {
		return fmt.Errorf("invalid size %q: too large", s)
	}
	*b = ByteSize(n) * unit
	return nil
}

// Type names the flag type in help text.
func (b *ByteSize) Type() string { return "size" }
