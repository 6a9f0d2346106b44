package objects

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/big"

	"go.starlark.net/starlark"

	"github.com/starbase/starbase/decimal"
)

// The value encoding is deterministic (one value has exactly one encoding, so encodings can be
// compared and hashed) and strict (DecodeValue accepts only encodings EncodeValue produces, so
// decoding then encoding any accepted input gives back the same bytes).
//
//	encoding := formatVersion value
//	value    := 'N'                        None
//	          | 'T' | 'F'                  True, False
//	          | 'i' sign uvarint(n) mag[n] int: sign 0 or 1, minimal big-endian magnitude (0 is 0 0)
//	          | 'f' bits[8]                float: IEEE 754 bits, big-endian (NaN payloads kept)
//	          | 's' uvarint(n) byte[n]     str (any bytes, as Starlark allows)
//	          | 'b' uvarint(n) byte[n]     bytes
//	          | 'l' uvarint(n) value[n]    list
//	          | 't' uvarint(n) value[n]    tuple
//	          | 'd' uvarint(n) (key value)[n]  dict, in insertion order, keys distinct and hashable
//	          | 'S' uvarint(n) value[n]    set, in insertion order, elements distinct and hashable
//	          | 'D' sign uvarint(n) mag[n] varint(exp)  decimal coeff × 10^exp (package decimal): the
//	                                       coefficient as an int's, exp zigzag (its scale is kept: 1.50)
//
// uvarints are encoding/binary's, minimal.
const formatVersion = 1

// maxDepth bounds the nesting of encoded values, which also stops a list that contains itself.
const maxDepth = 64

const (
	tagNone  = 'N'
	tagTrue  = 'T'
	tagFalse = 'F'
	tagInt   = 'i'
	tagFloat = 'f'
	tagStr   = 's'
	tagBytes = 'b'
	tagList  = 'l'
	tagTuple = 't'
	tagDict  = 'd'
	tagSet   = 'S'
	tagDec   = 'D'
)

// EncodeValue returns the encoding of v. It refuses (ErrUnstorable) values that have no
// encoding — functions, builtins, objects, models — naming where in v the value was found.
func EncodeValue(v starlark.Value) ([]byte, error) {
	return appendValue([]byte{formatVersion}, v, nil, 0)
}

// A valuePath locates a value inside the value being encoded, for error messages; it is
// spelled out only when encoding fails.
type valuePath struct {
	parent *valuePath
	index  int            // the element's index in a list, tuple or set
	key    starlark.Value // the element's key in a dict, when not nil
	isKey  bool           // the element is the key itself
}

func (p *valuePath) String() string {
	if p == nil {
		return ""
	}
	switch {
	case p.isKey:
		return fmt.Sprintf("%s[key %s]", p.parent, p.key)
	case p.key != nil:
		return fmt.Sprintf("%s[%s]", p.parent, p.key)
	}
	return fmt.Sprintf("%s[%d]", p.parent, p.index)
}

func appendValue(b []byte, v starlark.Value, path *valuePath, depth int) ([]byte, error) {
	if depth > maxDepth {
		return nil, unstorable(path, fmt.Sprintf("nested deeper than %d levels (does it contain itself?)", maxDepth))
	}
	switch v := v.(type) {
	case starlark.NoneType:
		return append(b, tagNone), nil
	case starlark.Bool:
		if v {
			return append(b, tagTrue), nil
		}
		return append(b, tagFalse), nil
	case starlark.Int:
		return appendInt(append(b, tagInt), v.BigInt()), nil
	case *decimal.Decimal:
		coeff := v.Coefficient()
		if v.Negative() {
			coeff.Neg(coeff)
		}
		b = appendInt(append(b, tagDec), coeff)
		return binary.AppendVarint(b, int64(v.Exponent())), nil
	case starlark.Float:
		b = append(b, tagFloat)
		return binary.BigEndian.AppendUint64(b, math.Float64bits(float64(v))), nil
	case starlark.String:
		b = append(b, tagStr)
		b = binary.AppendUvarint(b, uint64(len(v)))
		return append(b, v...), nil
	case starlark.Bytes:
		b = append(b, tagBytes)
		b = binary.AppendUvarint(b, uint64(len(v)))
		return append(b, v...), nil
	case *starlark.List:
		return appendSequence(b, tagList, v, v.Len(), path, depth)
	case starlark.Tuple:
		return appendSequence(b, tagTuple, v, v.Len(), path, depth)
	case *starlark.Set:
		return appendSequence(b, tagSet, v, v.Len(), path, depth)
	case *starlark.Dict:
		items := v.Items()
		b = append(b, tagDict)
		b = binary.AppendUvarint(b, uint64(len(items)))
		var err error
		for _, kv := range items {
			if b, err = appendValue(b, kv[0], &valuePath{parent: path, key: kv[0], isKey: true}, depth+1); err != nil {
				return nil, err
			}
			if b, err = appendValue(b, kv[1], &valuePath{parent: path, key: kv[0]}, depth+1); err != nil {
				return nil, err
			}
		}
		return b, nil
	default:
		return nil, unstorable(path, fmt.Sprintf("a %s has no stored form (store str, bytes, int, float, bool, None, list, dict, tuple or set values; refer to another object by its id)", v.Type()))
	}
}

// appendInt appends the sign and magnitude of n.
func appendInt(b []byte, n *big.Int) []byte {
	sign := byte(0)
	if n.Sign() < 0 {
		sign = 1
	}
	mag := new(big.Int).Abs(n).Bytes()
	b = append(b, sign)
	b = binary.AppendUvarint(b, uint64(len(mag)))
	return append(b, mag...)
}

func appendSequence(b []byte, tag byte, seq starlark.Iterable, n int, path *valuePath, depth int) ([]byte, error) {
	b = append(b, tag)
	b = binary.AppendUvarint(b, uint64(n))
	it := seq.Iterate()
	defer it.Done()
	var elem starlark.Value
	var err error
	for i := 0; it.Next(&elem); i++ {
		if b, err = appendValue(b, elem, &valuePath{parent: path, index: i}, depth+1); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// unstorable reports why the value at path (relative to the encoded value, "" for itself)
// cannot be stored.
func unstorable(path *valuePath, reason string) error {
	if path == nil {
		return fmt.Errorf("%w: %s", ErrUnstorable, reason)
	}
	return fmt.Errorf("%w: at %s: %s", ErrUnstorable, path, reason)
}

// DecodeValue returns the value encoded by b, as EncodeValue wrote it. Mutable values are new
// and not frozen. It fails with ErrCorrupt, and never panics, on any other input.
func DecodeValue(b []byte) (starlark.Value, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: empty", ErrCorrupt)
	}
	if b[0] != formatVersion {
		return nil, fmt.Errorf("%w: unknown format version %d (this server reads version %d)", ErrCorrupt, b[0], formatVersion)
	}
	d := decoder{b: b, off: 1}
	v, err := d.value(0)
	if err != nil {
		return nil, err
	}
	if d.off != len(d.b) {
		return nil, d.fail("%d unexpected bytes after the value", len(d.b)-d.off)
	}
	return v, nil
}

// A decoder reads one encoding; off is the next unread byte of b.
type decoder struct {
	b   []byte
	off int
}

func (d *decoder) fail(format string, args ...any) error {
	return fmt.Errorf("%w: at byte %d: %s", ErrCorrupt, d.off, fmt.Sprintf(format, args...))
}

func (d *decoder) byte() (byte, error) {
	if d.off >= len(d.b) {
		return 0, d.fail("truncated")
	}
	c := d.b[d.off]
	d.off++
	return c, nil
}

// count reads a minimal uvarint that counts items of at least minSize bytes each, and checks
// that they can fit in the rest of the input (so that no input makes us allocate more than it).
func (d *decoder) count(minSize int) (int, error) {
	n, size := binary.Uvarint(d.b[d.off:])
	if size <= 0 {
		return 0, d.fail("bad length")
	}
	if size != len(binary.AppendUvarint(nil, n)) {
		return 0, d.fail("length is not minimally encoded")
	}
	d.off += size
	if n > uint64(len(d.b)-d.off)/uint64(minSize) {
		return 0, d.fail("length %d exceeds the remaining input", n)
	}
	return int(n), nil
}

func (d *decoder) bytes() ([]byte, error) {
	n, err := d.count(1)
	if err != nil {
		return nil, err
	}
	s := d.b[d.off : d.off+n]
	d.off += n
	return s, nil
}

func (d *decoder) value(depth int) (starlark.Value, error) {
	if depth > maxDepth {
		return nil, d.fail("nested deeper than %d levels", maxDepth)
	}
	tag, err := d.byte()
	if err != nil {
		return nil, err
	}
	switch tag {
	case tagNone:
		return starlark.None, nil
	case tagTrue:
		return starlark.True, nil
	case tagFalse:
		return starlark.False, nil
	case tagInt:
		n, err := d.int()
		if err != nil {
			return nil, err
		}
		return starlark.MakeBigInt(n), nil
	case tagDec:
		return d.decimal()
	case tagFloat:
		if len(d.b)-d.off < 8 {
			return nil, d.fail("truncated float")
		}
		bits := binary.BigEndian.Uint64(d.b[d.off:])
		d.off += 8
		return starlark.Float(math.Float64frombits(bits)), nil
	case tagStr:
		s, err := d.bytes()
		return starlark.String(s), err
	case tagBytes:
		s, err := d.bytes()
		return starlark.Bytes(s), err
	case tagList, tagTuple, tagSet:
		return d.sequence(tag, depth)
	case tagDict:
		return d.dict(depth)
	default:
		d.off--
		return nil, d.fail("unknown tag %q", tag)
	}
}

// decimal reads a decimal's coefficient and exponent (minimal, within decimal's bounds).
func (d *decoder) decimal() (starlark.Value, error) {
	coeff, err := d.int()
	if err != nil {
		return nil, err
	}
	exp, size := binary.Varint(d.b[d.off:])
	if size <= 0 || size != len(binary.AppendVarint(nil, exp)) || exp != int64(int32(exp)) {
		return nil, d.fail("bad decimal exponent")
	}
	d.off += size
	v, err := decimal.New(coeff, int32(exp))
	if err != nil {
		return nil, d.fail("%v", err)
	}
	return v, nil
}

// int reads an int's sign and magnitude.
func (d *decoder) int() (*big.Int, error) {
	sign, err := d.byte()
	if err != nil {
		return nil, err
	}
	if sign > 1 {
		return nil, d.fail("bad int sign %d", sign)
	}
	mag, err := d.bytes()
	if err != nil {
		return nil, err
	}
	if len(mag) > 0 && mag[0] == 0 {
		return nil, d.fail("int magnitude has a leading zero byte")
	}
	if len(mag) == 0 && sign == 1 {
		return nil, d.fail("negative zero")
	}
	n := new(big.Int).SetBytes(mag)
	if sign == 1 {
		n.Neg(n)
	}
	return n, nil
}

func (d *decoder) sequence(tag byte, depth int) (starlark.Value, error) {
	n, err := d.count(1)
	if err != nil {
		return nil, err
	}
	elems := make([]starlark.Value, n)
	for i := range elems {
		if elems[i], err = d.value(depth + 1); err != nil {
			return nil, err
		}
	}
	switch tag {
	case tagList:
		return starlark.NewList(elems), nil
	case tagTuple:
		return starlark.Tuple(elems), nil
	}
	set := starlark.NewSet(n)
	for _, e := range elems {
		if err := set.Insert(e); err != nil {
			return nil, d.fail("set element: %v", err)
		}
	}
	if set.Len() != n {
		return nil, d.fail("set has duplicate elements")
	}
	return set, nil
}

func (d *decoder) dict(depth int) (starlark.Value, error) {
	n, err := d.count(2)
	if err != nil {
		return nil, err
	}
	dict := starlark.NewDict(n)
	for range n {
		k, err := d.value(depth + 1)
		if err != nil {
			return nil, err
		}
		v, err := d.value(depth + 1)
		if err != nil {
			return nil, err
		}
		if err := dict.SetKey(k, v); err != nil {
			return nil, d.fail("dict key: %v", err)
		}
	}
	if dict.Len() != n {
		return nil, d.fail("dict has duplicate keys")
	}
	return dict, nil
}
