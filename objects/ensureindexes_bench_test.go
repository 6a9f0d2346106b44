package objects

import "testing"

// BenchmarkSQL_EnsureIndexesOfBuiltIndexes is what every query, find and aggregate of the
// SQL tier pays to check that its model's indexes (here three fields and a composite) are
// built, once they are.
func BenchmarkSQL_EnsureIndexesOfBuiltIndexes(b *testing.B) {
	m := &Model{sqlIndexes: []string{"state", "total", "customer", "state,total"}}
	e := &sqlEngine{indexed: map[indexKey]bool{}}
	for _, idx := range m.sqlIndexes {
		e.indexed[indexKey{7, idx}] = true
	}
	b.ReportAllocs()
	for b.Loop() {
		e.ensureIndexes("app.star/Order", m.sqlIndexes, 7)
	}
}
