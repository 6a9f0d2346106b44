package objects_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"go.starlark.net/starlark"

	"github.com/starbase/starbase/objects"
)

const cells = `
def _incr(self):
    self.value += 1

Cell = model("Cell", fields = {"value": 0}, methods = {"incr": _incr})

def create():
    return db.put(Cell())

def get(id):
    return db.get(id).value

def put(id, v):
    c = db.get(id)
    c.value = v
    db.put(c)
    return v

def incr(id):
    c = db.get(id)
    c.incr()
    db.put(c)
    return c.value
`

// cellInput is one data API request on one cell: get, put value, or incr.
type cellInput struct {
	op    string
	cell  int
	value int
}

// cellModel is the sequential specification of the cells: each is an int, starting at 0; get
// returns it, put sets it, incr adds one and returns the new value. Cells are independent, so
// the history is checked cell by cell.
var cellModel = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byCell := map[int][]porcupine.Operation{}
		for _, op := range history {
			c := op.Input.(cellInput).cell
			byCell[c] = append(byCell[c], op)
		}
		var parts [][]porcupine.Operation
		for _, ops := range byCell {
			parts = append(parts, ops)
		}
		return parts
	},
	Init: func() any { return 0 },
	Step: func(state, input, output any) (bool, any) {
		v, in, out := state.(int), input.(cellInput), output.(int)
		switch in.op {
		case "get":
			return out == v, v
		case "put":
			return out == in.value, in.value
		default: // incr
			return out == v+1, v + 1
		}
	},
	DescribeOperation: func(input, output any) string {
		in := input.(cellInput)
		if in.op == "put" {
			return fmt.Sprintf("put(cell %d, %d)", in.cell, in.value)
		}
		return fmt.Sprintf("%s(cell %d) -> %d", in.op, in.cell, output)
	},
}

// testRun_HistoriesAreLinearizable runs random concurrent requests (get, put, incr over a few
// cells, each retried on conflict a few times) and checks the history of their invocations and
// responses against cellModel. Requests that gave up (ErrConflict) wrote nothing, and are left
// out of the history.
func testRun_HistoriesAreLinearizable(t *testing.T, open storeOpener) {
	st := open(t)
	c := newCode(map[string]string{"cells.star": cells})
	const numCells, clients, opsPerClient, retries = 3, 8, 40, 5
	var ids []starlark.Value
	for range numCells {
		ids = append(ids, c.mustCall(t, st, "cells.star", "create"))
	}

	start := time.Now()
	var mu sync.Mutex // guards history and gaveUp
	var history []porcupine.Operation
	gaveUp := 0
	var wg sync.WaitGroup
	for client := range clients {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(client), 2))
			for range opsPerClient {
				in := cellInput{op: []string{"get", "put", "incr"}[r.IntN(3)], cell: r.IntN(numCells), value: r.IntN(100)}
				args := []starlark.Value{ids[in.cell]}
				if in.op == "put" {
					args = append(args, starlark.MakeInt(in.value))
				}
				call := time.Since(start).Nanoseconds()
				out, err := c.callAttempts(t.Context(), st, retries, "cells.star", in.op, args...)
				ret := time.Since(start).Nanoseconds()
				mu.Lock()
				switch {
				case errors.Is(err, objects.ErrConflict):
					gaveUp++
				case err != nil:
					t.Errorf("%s: %v", in.op, err)
				default:
					var v int
					if err := starlark.AsInt(out, &v); err != nil {
						t.Errorf("%s returned %v, want an int", in.op, out)
					}
					history = append(history, porcupine.Operation{ClientId: client, Input: in, Call: call, Output: v, Return: ret})
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	t.Logf("%d operations completed, %d gave up after %d attempts", len(history), gaveUp, retries)

	result, info := porcupine.CheckOperationsVerbose(cellModel, history, 30*time.Second)
	if result != porcupine.Ok {
		where := "no visualization"
		if f, err := os.CreateTemp("", "starbase-history-*.html"); err == nil { // kept, for reading
			porcupine.Visualize(cellModel, info, f)
			f.Close()
			where = "see " + f.Name()
		}
		t.Fatalf("the history is not linearizable (%s); %s", result, where)
	}
}

func TestCellModel_RefusesALostUpdate(t *testing.T) {
	lost := []porcupine.Operation{
		{ClientId: 0, Input: cellInput{op: "incr"}, Call: 0, Output: 1, Return: 10},
		{ClientId: 1, Input: cellInput{op: "incr"}, Call: 5, Output: 1, Return: 15},
	}
	if porcupine.CheckOperations(cellModel, lost) {
		t.Errorf("two increments from 0 that both return 1 pass the check")
	}
}
