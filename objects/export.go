package objects

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// Export and Import move a data tier's objects as JSON lines, one object a line:
//
//	{"id": "06h3...", "class": "shop.star:Order", "version": 2, "record": "<base64>"}
//
// record is the object's record encoding (record.go: its class, version, indexed fields and
// field values, exact), which is what every tier stores; class and version repeat what it
// holds, for people and tools reading the file. The lines are in id order. After the objects
// come the sequences of db.next, one a line, by name, with the last number they gave:
//
//	{"sequence": "invoice", "value": 1042}
//
// so that a tier imported from an export goes on numbering where the exported one stopped.
// Both stream: neither holds more than one batch of objects or sequences.

// An exportLine is one object, or one sequence, of an export.
type exportLine struct {
	ID       string `json:"id,omitempty"`
	Class    string `json:"class,omitempty"`
	Version  int    `json:"version,omitempty"`
	Record   []byte `json:"record,omitempty"`
	Sequence string `json:"sequence,omitempty"`
	Value    int64  `json:"value,omitempty"`
}

// ExportBatch is how many objects Export reads per transaction and Import writes per
// transaction (halved, on the KV tier, until a batch fits one commit).
const ExportBatch = 500

// Export writes every object of eng to w, in id order, then its sequences, and returns how
// many objects it wrote. Each batch is read in a transaction of its own: objects written
// meanwhile may or may not be exported (export a stopped node, or accept that).
func Export(ctx context.Context, eng Engine, w io.Writer) (int, error) {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	n, after := 0, ""
	for {
		var page []stored
		err := Run(ctx, eng, nil, 10, func(tx *Tx) error {
			d, err := tx.dtx()
			if err != nil {
				return err
			}
			page, err = d.all(after, ExportBatch)
			return tx.failed(err)
		})
		if err != nil {
			return n, fmt.Errorf("export: after %d objects: %w", n, err)
		}
		for _, s := range page {
			rec, err := decodeRecord(s.data)
			if err != nil {
				return n, fmt.Errorf("export: object %s: %w", s.id, err)
			}
			if err := enc.Encode(exportLine{ID: s.id, Class: rec.class, Version: rec.version, Record: s.data}); err != nil {
				return n, err
			}
			n++
		}
		if len(page) < ExportBatch {
			break
		}
		after = page[len(page)-1].id
	}
	// The sequences, a page per transaction as the objects.
	err := eachSequence(func(after string) ([]meta, error) {
		var page []meta
		err := Run(ctx, eng, nil, 10, func(tx *Tx) error {
			d, err := tx.dtx()
			if err != nil {
				return err
			}
			page, err = d.metas(seqLockKey(""), after, ExportBatch)
			return tx.failed(err)
		})
		return page, err
	}, func(name string, value int64) error {
		return enc.Encode(exportLine{Sequence: name, Value: value})
	})
	if err != nil {
		return n, fmt.Errorf("export: reading the sequences: %w", err)
	}
	return n, bw.Flush()
}

// eachSequence calls fn with the name and last number of every sequence (db.next), by name,
// reading them with page: up to ExportBatch of their values, from the key after after ("":
// from the first).
func eachSequence(page func(after string) ([]meta, error), fn func(name string, value int64) error) error {
	for after := ""; ; {
		metas, err := page(after)
		if err != nil {
			return err
		}
		for _, m := range metas {
			name, v, err := parseSequence(m)
			if err != nil {
				return err
			}
			if err := fn(name, v); err != nil {
				return err
			}
		}
		if len(metas) < ExportBatch {
			return nil
		}
		after = metas[len(metas)-1].key
	}
}

// MaxImportLine bounds one line of an import (an object's record, base64, and its keys).
const MaxImportLine = 64 << 20

// Import reads an export from r and writes its objects into eng, ExportBatch per
// transaction, and returns how many it wrote. An object eng already holds with the same
// record is skipped, so an import that stopped can be run again; one it holds with another
// record stops the import with an error naming it. Every line is checked (id, record
// encoding, class and version agreeing with the record) before its batch is written.
func Import(ctx context.Context, eng Engine, r io.Reader) (int, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), MaxImportLine)
	im := NewImporter(ctx, eng)
	lineNo := 0
	for sc.Scan() {
		lineNo++
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var l exportLine
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&l); err != nil {
			return im.written, fmt.Errorf("import: line %d: %w", lineNo, err)
		}
		if l.Sequence != "" {
			if l.ID != "" || l.Class != "" || l.Version != 0 || l.Record != nil {
				return im.written, fmt.Errorf("import: line %d: a line is an object (id, class, version, record) or a sequence (sequence, value), not both", lineNo)
			}
			if err := im.Sequence(l.Sequence, l.Value); err != nil {
				return im.written, fmt.Errorf("import: line %d: %w", lineNo, err)
			}
			continue
		}
		rec, err := im.check(l.ID, l.Record)
		if err != nil {
			return im.written, fmt.Errorf("import: line %d: %w", lineNo, err)
		}
		if rec.class != l.Class || rec.version != l.Version {
			return im.written, fmt.Errorf("import: line %d (object %s): class %s version %d, but its record holds %s version %d",
				lineNo, l.ID, l.Class, l.Version, rec.class, rec.version)
		}
		if err := im.add(l.ID, l.Record, rec); err != nil {
			return im.written, fmt.Errorf("import: before line %d: %w", lineNo+1, err)
		}
	}
	if err := sc.Err(); err != nil {
		return im.written, fmt.Errorf("import: after line %d: %w", lineNo, err)
	}
	n, err := im.Flush()
	if err != nil {
		return n, fmt.Errorf("import: at the end: %w", err)
	}
	return n, nil
}

// An Importer writes objects given one by one into a data tier, ExportBatch per transaction
// (halved, on the KV tier, until a batch fits one commit), as Import does. An object the
// tier already holds with the same record is skipped; one it holds with another record is an
// error naming it. Call Flush at the end. An Importer is used by one goroutine.
type Importer struct {
	ctx     context.Context
	eng     Engine
	batch   []stored
	size    int
	written int
}

// NewImporter returns an Importer into eng.
func NewImporter(ctx context.Context, eng Engine) *Importer {
	return &Importer{ctx: ctx, eng: eng, batch: make([]stored, 0, ExportBatch), size: ExportBatch}
}

// Add checks object id's record (the id, the record encoding) and queues it, writing the
// queue when it holds a batch.
func (im *Importer) Add(id string, record []byte) error {
	rec, err := im.check(id, record)
	if err != nil {
		return err
	}
	return im.add(id, record, rec)
}

// check returns the decoded record of object id.
func (im *Importer) check(id string, record []byte) (*record, error) {
	if err := checkID(id); err != nil {
		return nil, err
	}
	rec, err := decodeRecord(record)
	if err != nil {
		return nil, fmt.Errorf("object %s: %w", id, err)
	}
	return rec, nil
}

func (im *Importer) add(id string, data []byte, rec *record) error {
	im.batch = append(im.batch, stored{id: id, data: data, rec: rec})
	if len(im.batch) < ExportBatch {
		return nil
	}
	_, err := im.Flush()
	return err
}

// parseSequence reads the name and last number of the sequence stored as m.
func parseSequence(m meta) (string, int64, error) {
	name := m.key[len(seqLockKey("")):]
	v, err := strconv.ParseInt(string(m.value), 10, 64)
	if err != nil || !validSequenceName(name) {
		return "", 0, fmt.Errorf("%w: sequence %q holds %q", ErrCorrupt, name, m.value)
	}
	return name, v, nil
}

// Sequence sets sequence name (db.next) to value, the last number it gave, in a transaction
// of its own. A sequence the tier holds at the same value is skipped (an import that stopped
// runs again); one it holds at another value is an error naming it.
func (im *Importer) Sequence(name string, value int64) error {
	if !validSequenceName(name) {
		return fmt.Errorf("sequence %q: a sequence name is 1 to %d letters, digits, '_', '.' or '-'", name, MaxSequenceName)
	}
	if value < 1 {
		return fmt.Errorf("sequence %s: value %d, want the last number it gave (1 or more)", name, value)
	}
	key, want := seqLockKey(name), []byte(strconv.FormatInt(value, 10))
	return Run(im.ctx, im.eng, nil, 10, func(tx *Tx) error {
		d, err := tx.dtx()
		if err != nil {
			return err
		}
		old, ok, err := d.getMeta(key)
		if err != nil {
			return tx.failed(err)
		}
		if ok && bytes.Equal(old, want) {
			return nil
		}
		if ok {
			return fmt.Errorf("sequence %s is already at %s, the import sets it to %d: import into an empty data tier", name, old, value)
		}
		return tx.failed(d.putMeta(key, want))
	})
}

// importConflicts bounds how many times one Flush runs a batch again that conflicted
// ten times (each run of ten takes up to about 0.3 s of pauses).
const importConflicts = 100

// Flush writes the queued objects and returns how many objects the Importer wrote in all.
func (im *Importer) Flush() (int, error) {
	conflicted := 0
	for len(im.batch) > 0 {
		part := im.batch[:min(im.size, len(im.batch))]
		wrote := 0
		err := Run(im.ctx, im.eng, nil, 10, func(tx *Tx) error {
			wrote = 0
			d, err := tx.dtx()
			if err != nil {
				return err
			}
			for _, s := range part {
				old, ok, err := d.get(s.id)
				if err != nil {
					return tx.failed(err)
				}
				if ok && bytes.Equal(old, s.data) {
					continue
				}
				if ok {
					return fmt.Errorf("object %s is already stored with another record: import into an empty data tier", s.id)
				}
				if err := d.put(s.id, s.rec, s.data, nil); err != nil {
					return tx.failed(err)
				}
				wrote++
			}
			return nil
		})
		if errors.Is(err, ErrTooLarge) && im.size > 1 {
			im.size /= 2
			continue
		}
		// A batch loses only to the tier's own background work (an index build, statistics):
		// nothing else writes an import's new objects. It waits that out, within a bound.
		if errors.Is(err, ErrConflict) && conflicted < importConflicts {
			conflicted++
			continue
		}
		if err != nil {
			return im.written, err
		}
		im.written += wrote
		im.batch = im.batch[len(part):]
	}
	im.batch = im.batch[:0]
	return im.written, nil
}
