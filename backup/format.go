package backup

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"strconv"
	"time"
)

// FormatVersion is the version of the format this package writes, and the newest it reads.
// Format 2 added the sequences of a SQL data tier ('S' frames, Trailer.Sequences); a
// backup of format 1 has none.
const FormatVersion = 2

// Magic starts every backup.
const Magic = "STARBASE-BACKUP\n"

// Frame kinds.
const (
	kindHeader   = 'H'
	kindKey      = 'K'
	kindObject   = 'O'
	kindSequence = 'S'
	kindTrailer  = 'T'
)

// Bounds of the reader: a frame's payload (a store value of up to 64 MiB with its key, an
// object's record of up to objects.MaxImportLine), a key or object id, the header and
// trailer.
const (
	MaxFrame   = 96 << 20
	MaxKey     = 64 << 10
	maxJSON    = 64 << 10
	maxUvarint = binary.MaxVarintLen64
)

var (
	// ErrDamaged is returned for a file that is not a whole backup: not one at all,
	// truncated, or changed since it was written.
	ErrDamaged = errors.New("backup: not a whole Starbase backup")
	// ErrFormat is returned for a backup of a newer format than this binary reads.
	ErrFormat = errors.New("backup: format too new")
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Header is the first frame of a backup: what it is a backup of.
type Header struct {
	// Format is FormatVersion of the writer.
	Format int `json:"format"`
	// Created is when the backup started.
	Created time.Time `json:"created"`
	// Node is the node that took it; Binary the version of its starbase.
	Node   string `json:"node,omitempty"`
	Binary string `json:"binary,omitempty"`
	// Revision is the store revision every key was read at.
	Revision int64 `json:"revision"`
	// Data is the data tier the objects come from: "kv" when they are store keys (under
	// data/), "sqlite" or "postgres" when they are 'O' frames.
	Data string `json:"data"`
}

// Trailer is the last frame of a backup.
type Trailer struct {
	Keys    int64 `json:"keys"`
	Objects int64 `json:"objects"`
	// Sequences counts the 'S' frames (format 2).
	Sequences int64 `json:"sequences,omitempty"`
	// SHA256 is the hex SHA-256 of every byte before the trailer's frame.
	SHA256 string `json:"sha256"`
}

// Writer writes a backup. It is used by one goroutine.
type Writer struct {
	w         *bufio.Writer
	sum       hash.Hash
	keys      int64
	objects   int64
	sequences int64
	lastKey   string
	lastID    string
	lastSeq   string
	n         int64
	err       error
}

// NewWriter writes the magic and the header h (its Format set to FormatVersion) to w.
func NewWriter(w io.Writer, h Header) (*Writer, error) {
	bw := &Writer{w: bufio.NewWriterSize(w, 256<<10), sum: sha256.New()}
	h.Format = FormatVersion
	b, err := json.Marshal(h)
	if err != nil {
		return nil, err
	}
	bw.write([]byte(Magic))
	bw.frame(kindHeader, b)
	return bw, bw.err
}

// Written returns how many bytes were written so far.
func (w *Writer) Written() int64 { return w.n }

func (w *Writer) write(b []byte) {
	if w.err != nil {
		return
	}
	if _, err := w.w.Write(b); err != nil {
		w.err = err
		return
	}
	w.sum.Write(b)
	w.n += int64(len(b))
}

// frame writes one frame; the trailer's is not hashed.
func (w *Writer) frame(kind byte, payload []byte) {
	head := binary.AppendUvarint([]byte{kind}, uint64(len(payload)))
	crc := crc32.Update(crc32.Update(0, castagnoli, head), castagnoli, payload)
	tail := binary.BigEndian.AppendUint32(nil, crc)
	if kind == kindTrailer {
		for _, b := range [][]byte{head, payload, tail} {
			if w.err == nil {
				_, w.err = w.w.Write(b)
				w.n += int64(len(b))
			}
		}
		return
	}
	w.write(head)
	w.write(payload)
	w.write(tail)
}

// pair is the payload of a key or object frame.
func pair(name string, value []byte) []byte {
	b := binary.AppendUvarint(make([]byte, 0, maxUvarint+len(name)+len(value)), uint64(len(name)))
	return append(append(b, name...), value...)
}

// Key writes a store key. Keys must come before objects, in strictly ascending order.
func (w *Writer) Key(key string, value []byte) error {
	switch {
	case w.err != nil:
		return w.err
	case w.objects > 0 || w.sequences > 0:
		return errors.New("backup: a key after the objects")
	case w.keys > 0 && key <= w.lastKey, key == "":
		return fmt.Errorf("backup: key %q out of order (after %q)", key, w.lastKey)
	case len(key) > MaxKey || len(key)+len(value)+maxUvarint > MaxFrame:
		return fmt.Errorf("backup: key %q with %d bytes of value is larger than a backup holds (%d bytes)", key, len(value), MaxFrame)
	}
	w.frame(kindKey, pair(key, value))
	w.keys++
	w.lastKey = key
	return w.err
}

// Object writes an object of the data tier. Objects come after keys, in strictly ascending
// id order.
func (w *Writer) Object(id string, record []byte) error {
	switch {
	case w.err != nil:
		return w.err
	case w.sequences > 0:
		return errors.New("backup: an object after the sequences")
	case w.objects > 0 && id <= w.lastID, id == "":
		return fmt.Errorf("backup: object %q out of order (after %q)", id, w.lastID)
	case len(id) > MaxKey || len(id)+len(record)+maxUvarint > MaxFrame:
		return fmt.Errorf("backup: object %q of %d bytes is larger than a backup holds (%d bytes)", id, len(record), MaxFrame)
	}
	w.frame(kindObject, pair(id, record))
	w.objects++
	w.lastID = id
	return w.err
}

// Sequence writes the last number value of sequence name (db.next) of a SQL data tier.
// Sequences come last, in strictly ascending name order.
func (w *Writer) Sequence(name string, value int64) error {
	switch {
	case w.err != nil:
		return w.err
	case w.sequences > 0 && name <= w.lastSeq, name == "":
		return fmt.Errorf("backup: sequence %q out of order (after %q)", name, w.lastSeq)
	case len(name) > MaxKey:
		return fmt.Errorf("backup: sequence name %q is longer than a backup holds", name)
	case value < 1: // a Reader would refuse the backup
		return fmt.Errorf("backup: sequence %s at %d: a sequence's last number is 1 or more", name, value)
	}
	w.frame(kindSequence, pair(name, strconv.AppendInt(nil, value, 10)))
	w.sequences++
	w.lastSeq = name
	return w.err
}

// Close writes the trailer and flushes; it does not close the underlying writer.
func (w *Writer) Close() (Trailer, error) {
	t := Trailer{Keys: w.keys, Objects: w.objects, Sequences: w.sequences, SHA256: hex.EncodeToString(w.sum.Sum(nil))}
	b, err := json.Marshal(t)
	if err != nil {
		return t, err
	}
	w.frame(kindTrailer, b)
	if w.err == nil {
		w.err = w.w.Flush()
	}
	return t, w.err
}

// Entry is a key, an object or a sequence read from a backup.
type Entry struct {
	// Object is set for an object of the data tier (Name its id, Value its record),
	// Sequence for a sequence of the data tier (Name its name, Number its last number);
	// neither for a store key (Name the key, Value its value).
	Object   bool
	Sequence bool
	Number   int64
	Name     string
	Value    []byte
}

// Reader reads a backup, checking it as it goes (see the package documentation). It is used
// by one goroutine.
type Reader struct {
	r         *bufio.Reader
	sum       hash.Hash
	off       int64 // offset of the next byte
	header    Header
	trailer   *Trailer
	keys      int64
	objects   int64
	sequences int64
	lastKey   string
	lastID    string
	lastSeq   string
	buf       bytes.Buffer
}

// NewReader reads and checks the magic and the header of the backup r.
func NewReader(r io.Reader) (*Reader, error) {
	br := &Reader{r: bufio.NewReaderSize(r, 256<<10), sum: sha256.New()}
	magic := make([]byte, len(Magic))
	n, err := io.ReadFull(br.r, magic)
	br.sum.Write(magic[:n])
	br.off += int64(n)
	if err != nil || string(magic) != Magic {
		if n == 0 {
			return nil, fmt.Errorf("%w: the file is empty", ErrDamaged)
		}
		return nil, fmt.Errorf("%w: it does not start with %q: not a Starbase backup", ErrDamaged, Magic[:len(Magic)-1])
	}
	kind, payload, err := br.frame()
	if err != nil {
		return nil, err
	}
	if kind != kindHeader {
		return nil, br.damagedf("the first frame is %q, not the header", kind)
	}
	// Not strict: a newer format may add fields, and must be refused for its version.
	if err := json.Unmarshal(payload, &br.header); err != nil {
		return nil, br.damagedf("the header is not valid: %v", err)
	}
	if br.header.Format > FormatVersion {
		return nil, fmt.Errorf("%w: the backup is of format %d and this starbase reads formats up to %d: restore it with a newer starbase",
			ErrFormat, br.header.Format, FormatVersion)
	}
	if br.header.Format < 1 {
		return nil, br.damagedf("the header names format %d", br.header.Format)
	}
	return br, nil
}

func unmarshalStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("data after the JSON value")
	}
	return nil
}

// Header returns the backup's header.
func (r *Reader) Header() Header { return r.header }

// Trailer returns the backup's trailer once Next has returned io.EOF.
func (r *Reader) Trailer() Trailer {
	if r.trailer == nil {
		return Trailer{}
	}
	return *r.trailer
}

func (r *Reader) damagedf(format string, args ...any) error {
	return fmt.Errorf("%w: at byte %d: %s", ErrDamaged, r.off, fmt.Sprintf(format, args...))
}

// truncated turns an early end of file into an error saying so.
func (r *Reader) truncated(err error, what string) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return r.damagedf("the file ends in the middle of %s: it is truncated (an interrupted backup or copy)", what)
	}
	return fmt.Errorf("backup: reading at byte %d: %w", r.off, err)
}

// frame reads one frame and checks its CRC; every frame but the trailer goes into the hash.
// The payload is valid until the next call.
func (r *Reader) frame() (byte, []byte, error) {
	start := r.off
	kind, err := r.r.ReadByte()
	if err != nil {
		return 0, nil, r.truncated(err, "a frame")
	}
	r.off++
	length, err := binary.ReadUvarint(countingByteReader{r})
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return 0, nil, r.truncated(err, "a frame's length")
		}
		return 0, nil, r.damagedf("the frame at byte %d has no valid length", start)
	}
	lenBytes := binary.AppendUvarint(nil, length)
	switch {
	case kind != kindHeader && kind != kindKey && kind != kindObject && kind != kindSequence && kind != kindTrailer,
		kind == kindSequence && r.header.Format < 2:
		return 0, nil, fmt.Errorf("%w: at byte %d: unknown frame kind 0x%02x", ErrDamaged, start, kind)
	case length > MaxFrame:
		return 0, nil, fmt.Errorf("%w: at byte %d: a frame of %d bytes, more than a backup holds (%d)", ErrDamaged, start, length, MaxFrame)
	case (kind == kindHeader || kind == kindTrailer) && length > maxJSON:
		return 0, nil, fmt.Errorf("%w: at byte %d: a %s of %d bytes (at most %d)", ErrDamaged, start, kindName(kind), length, maxJSON)
	}
	r.buf.Reset()
	// CopyN grows the buffer as bytes arrive: a length larger than the file allocates no more
	// than the file holds.
	n, err := io.CopyN(&r.buf, r.r, int64(length))
	r.off += n
	if err != nil {
		return 0, nil, r.truncated(err, "a "+kindName(kind))
	}
	var crcBuf [4]byte
	m, err := io.ReadFull(r.r, crcBuf[:])
	r.off += int64(m)
	if err != nil {
		return 0, nil, r.truncated(err, "a checksum")
	}
	payload := r.buf.Bytes()
	want := crc32.Update(crc32.Update(crc32.Update(0, castagnoli, []byte{kind}), castagnoli, lenBytes), castagnoli, payload)
	if got := binary.BigEndian.Uint32(crcBuf[:]); got != want {
		return 0, nil, fmt.Errorf("%w: at byte %d: the %s's checksum does not match its bytes: the file was damaged after it was written",
			ErrDamaged, start, kindName(kind))
	}
	if kind != kindTrailer {
		r.sum.Write([]byte{kind})
		r.sum.Write(lenBytes)
		r.sum.Write(payload)
		r.sum.Write(crcBuf[:])
	}
	return kind, payload, nil
}

func kindName(kind byte) string {
	switch kind {
	case kindHeader:
		return "header"
	case kindKey:
		return "store key"
	case kindObject:
		return "object"
	case kindSequence:
		return "sequence"
	case kindTrailer:
		return "trailer"
	}
	return "frame"
}

// countingByteReader reads the bytes of a uvarint, counting them in the Reader's offset.
type countingByteReader struct{ r *Reader }

func (c countingByteReader) ReadByte() (byte, error) {
	b, err := c.r.r.ReadByte()
	if err == nil {
		c.r.off++
	}
	return b, err
}

// splitPair splits a key or object payload.
func splitPair(p []byte) (string, []byte, bool) {
	n, k := binary.Uvarint(p)
	if k <= 0 || n > MaxKey || n == 0 || uint64(len(p)-k) < n {
		return "", nil, false
	}
	name := string(p[k : k+int(n)])
	return name, bytes.Clone(p[k+int(n):]), true
}

// Next returns the next key or object. After the last one it reads the trailer, checks the
// counts and the SHA-256 and that nothing follows, and returns io.EOF.
func (r *Reader) Next() (Entry, error) {
	if r.trailer != nil {
		return Entry{}, io.EOF
	}
	start := r.off
	kind, payload, err := r.frame()
	if err != nil {
		return Entry{}, err
	}
	switch kind {
	case kindKey, kindObject, kindSequence:
		name, value, ok := splitPair(payload)
		if !ok {
			return Entry{}, fmt.Errorf("%w: at byte %d: the %s's name is not valid", ErrDamaged, start, kindName(kind))
		}
		if kind == kindSequence {
			n, err := strconv.ParseInt(string(value), 10, 64)
			switch {
			case err != nil || n < 1:
				return Entry{}, fmt.Errorf("%w: at byte %d: sequence %q holds %q, not a number of 1 or more", ErrDamaged, start, name, value)
			case r.sequences > 0 && name <= r.lastSeq:
				return Entry{}, fmt.Errorf("%w: at byte %d: sequence %q is not after %q", ErrDamaged, start, name, r.lastSeq)
			}
			r.sequences++
			r.lastSeq = name
			return Entry{Sequence: true, Name: name, Number: n}, nil
		}
		if kind == kindKey {
			if r.objects > 0 || r.sequences > 0 {
				return Entry{}, fmt.Errorf("%w: at byte %d: a store key after the objects", ErrDamaged, start)
			}
			if r.keys > 0 && name <= r.lastKey {
				return Entry{}, fmt.Errorf("%w: at byte %d: store key %q is not after %q", ErrDamaged, start, name, r.lastKey)
			}
			r.keys++
			r.lastKey = name
			return Entry{Name: name, Value: value}, nil
		}
		if r.sequences > 0 {
			return Entry{}, fmt.Errorf("%w: at byte %d: an object after the sequences", ErrDamaged, start)
		}
		if r.objects > 0 && name <= r.lastID {
			return Entry{}, fmt.Errorf("%w: at byte %d: object %q is not after %q", ErrDamaged, start, name, r.lastID)
		}
		r.objects++
		r.lastID = name
		return Entry{Object: true, Name: name, Value: value}, nil
	case kindTrailer:
		var t Trailer
		if err := unmarshalStrict(payload, &t); err != nil {
			return Entry{}, fmt.Errorf("%w: at byte %d: the trailer is not valid: %v", ErrDamaged, start, err)
		}
		if t.Keys != r.keys || t.Objects != r.objects || t.Sequences != r.sequences {
			return Entry{}, fmt.Errorf("%w: the trailer counts %d keys, %d objects and %d sequences, the file holds %d, %d and %d",
				ErrDamaged, t.Keys, t.Objects, t.Sequences, r.keys, r.objects, r.sequences)
		}
		if got := hex.EncodeToString(r.sum.Sum(nil)); got != t.SHA256 {
			return Entry{}, fmt.Errorf("%w: the file's SHA-256 is %s, its trailer says %s: it was changed after it was written",
				ErrDamaged, got, t.SHA256)
		}
		if _, err := r.r.ReadByte(); err == nil {
			return Entry{}, fmt.Errorf("%w: at byte %d: data after the trailer", ErrDamaged, r.off)
		} else if !errors.Is(err, io.EOF) {
			return Entry{}, fmt.Errorf("backup: reading at byte %d: %w", r.off, err)
		}
		r.trailer = &t
		return Entry{}, io.EOF
	}
	return Entry{}, fmt.Errorf("%w: at byte %d: a second header", ErrDamaged, start)
}

// Check reads the whole backup r and returns its header and trailer, or the first damage.
func Check(r io.Reader) (Header, Trailer, error) {
	br, err := NewReader(r)
	if err != nil {
		return Header{}, Trailer{}, err
	}
	for {
		if _, err := br.Next(); err == io.EOF {
			return br.header, *br.trailer, nil
		} else if err != nil {
			return br.header, Trailer{}, err
		}
	}
}
