package backup_test

import (
	"encoding/binary"
	"hash/crc32"
	"runtime"
)

// frame encodes one frame as the format describes it, independently of the Writer.
func frame(kind byte, payload []byte) []byte {
	head := binary.AppendUvarint([]byte{kind}, uint64(len(payload)))
	crc := crc32.Checksum(append(append([]byte(nil), head...), payload...), crc32.MakeTable(crc32.Castagnoli))
	return binary.BigEndian.AppendUint32(append(head, payload...), crc)
}

// runtimeMem reads the bytes allocated so far.
type runtimeMem struct{ total uint64 }

func (m *runtimeMem) read() {
	var s runtime.MemStats
	runtime.ReadMemStats(&s)
	m.total = s.TotalAlloc
}
