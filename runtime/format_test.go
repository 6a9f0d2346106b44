package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"testing"

	"go.starlark.net/starlark"
	"go.starlark.net/syntax"

	"github.com/starbase/starbase/code"
)

// Operands of the generated expressions: every type the fast paths know, with the edges
// (empty, non-ASCII, quotes, the int64 bounds, an int beyond them), and types they
// decline.
var fastOperands = []string{
	`""`, `"x"`, `"<td>"`, `"ünï"`, `"a\"b"`, `"%"`, `"%s"`, `"{}"`, `"}"`, `"&"`, `"a&b<c>"`,
	`0`, `7`, `-1`, `999`, `1000`, `-1000`, `9223372036854775807`, `-9223372036854775808`, `(1 << 70)`,
	`True`, `False`, `None`, `1.5`, `[1, "a"]`, `("t",)`, `{"a": 1}`, `b"by"`,
}

// Formats of % and str.format: every conversion, escapes, and broken ones.
var (
	percentPieces = []string{"", "a", "<td>", "é", "%%", "%s", "%d", "%i", "%r", "%x", "%c", "%(a)s", "%", "%0", "%5d", "%f", "{}", "x%"}
	formatPieces  = []string{"", "a", "<td>", "é", "{{", "}}", "{}", "{0}", "{a}", "{b}", "{!r}", "{:d}", "{", "}", "{a.b}", "%s"}
)

// generated returns n Starlark expressions that exercise the fast paths, from rng.
func generated(rng *rand.Rand, n int) []string {
	pick := func(list []string) string { return list[rng.IntN(len(list))] }
	operands := func(k int) string {
		var ops []string
		for range k {
			ops = append(ops, pick(fastOperands))
		}
		return strings.Join(ops, ", ")
	}
	pieces := func(list []string) string {
		var b strings.Builder
		for range rng.IntN(5) {
			b.WriteString(pick(list))
		}
		return b.String()
	}
	var exprs []string
	for len(exprs) < n {
		switch rng.IntN(7) {
		case 0: // % with a tuple
			if k := rng.IntN(4); k == 0 {
				exprs = append(exprs, fmt.Sprintf("%q %% ()", pieces(percentPieces)))
			} else {
				exprs = append(exprs, fmt.Sprintf("%q %% (%s,)", pieces(percentPieces), operands(k)))
			}
		case 1: // % with one value
			exprs = append(exprs, fmt.Sprintf("%q %% %s", pieces(percentPieces), pick(fastOperands)))
		case 2: // str.format, positional and keyword
			exprs = append(exprs, fmt.Sprintf("%q.format(%s)", pieces(formatPieces), operands(rng.IntN(4))))
			exprs = append(exprs, fmt.Sprintf("%q.format(a = %s, b = %s)", pieces(formatPieces), pick(fastOperands), pick(fastOperands)))
		case 3: // a chain of +
			var ops []string
			for range 2 + rng.IntN(5) {
				if rng.IntN(6) == 0 {
					ops = append(ops, pick(fastOperands))
				} else {
					ops = append(ops, pick(fastOperands[:11]))
				}
			}
			exprs = append(exprs, strings.Join(ops, " + "))
		case 4: // join of a list or tuple
			var elems []string
			for range rng.IntN(5) {
				if rng.IntN(8) == 0 {
					elems = append(elems, pick(fastOperands))
				} else {
					elems = append(elems, pick(fastOperands[:11]))
				}
			}
			if rng.IntN(2) == 0 {
				exprs = append(exprs, fmt.Sprintf("(%s).join([%s])", pick(fastOperands), strings.Join(elems, ", ")))
			} else {
				exprs = append(exprs, fmt.Sprintf("%s.join((%s))", pick(fastOperands[:11]), strings.Join(append(elems, ""), ", ")))
			}
		case 5: // replace
			exprs = append(exprs, fmt.Sprintf("(%s).replace(%s, %s)", pick(fastOperands), pick(fastOperands), pick(fastOperands)))
		case 6: // str
			exprs = append(exprs, fmt.Sprintf("str(%s)", pick(fastOperands)))
		}
	}
	return exprs
}

// TestFastPaths_MatchUpstream is the differential test of format.go: thousands of
// generated expressions (% and str.format with every conversion, chains of +, join,
// replace, str) run once through the Loader, with its rewriting, checks and fast paths,
// and once by go.starlark.net alone; each must give the same value, or fail with the
// same message.
func TestFastPaths_MatchUpstream(t *testing.T) {
	exprs := generated(rand.New(rand.NewPCG(14, 19)), 3000)
	exprs = append(exprs,
		`"<tr><td>" + str(7) + "</td><td>" + "a&b".replace("&", "&amp;") + "</td></tr>\n"`,
		`"%d items at %s, %r" % (3, "x", None)`, `"{} and {}".format(1, "b")`, `",".join(["1", "2", "3"])`,
		`"a" + 1 + "b"`, `1 + 2 + 3 + 4`, `[1] + [2] + [3]`, `(1,) + (2,) + (3,)`, `"x" + "y" + None`,
	)
	checkSameAsUpstream(t, exprs)
}

// TestListMethods_MatchUpstream is the differential test of the direct calls of append
// and insert ($call_append, $call_insert): on lists, with every kind of index, and on
// receivers and arguments their fast paths decline (other types, a frozen list, keyword
// arguments), each returns what go.starlark.net returns, or fails with its message.
func TestListMethods_MatchUpstream(t *testing.T) {
	receivers := []string{`[]`, `[1, 2, 3]`, `["a"]`, `FROZEN`, `(1,)`, `"s"`, `{"a": 1}`, `None`}
	indices := []string{`0`, `1`, `2`, `3`, `4`, `100`, `-1`, `-3`, `-4`, `-100`, `(1 << 31)`, `-(1 << 31)`, `(1 << 70)`, `True`, `1.0`, `"0"`, `None`}
	values := []string{`0`, `"x"`, `None`, `[9]`}
	var exprs []string
	for _, r := range receivers {
		// [(the call, the receiver after it) for l in [receiver]][0]
		for _, v := range values {
			exprs = append(exprs, fmt.Sprintf("[(l.append(%s), l) for l in [%s]][0]", v, r))
		}
		for _, i := range indices {
			for _, v := range values {
				exprs = append(exprs, fmt.Sprintf("[(l.insert(%s, %s), l) for l in [%s]][0]", i, v, r))
			}
		}
		exprs = append(exprs,
			fmt.Sprintf("[(l.append(), l) for l in [%s]][0]", r),
			fmt.Sprintf("[(l.append(1, 2), l) for l in [%s]][0]", r),
			fmt.Sprintf("[(l.append(object = 1), l) for l in [%s]][0]", r),
			fmt.Sprintf("[(l.insert(0), l) for l in [%s]][0]", r),
			fmt.Sprintf("[(l.insert(0, 1, 2), l) for l in [%s]][0]", r),
			fmt.Sprintf("[(l.insert(index = 0, object = 1), l) for l in [%s]][0]", r),
		)
	}
	// A list appended to while it is iterated.
	exprs = append(exprs, `[l.append(x) for l in [[1, 2]] for x in l]`, `[l.insert(0, x) for l in [[1, 2]] for x in l]`)
	checkSameAsUpstreamWith(t, "FROZEN = [1, 2]\n", exprs)
}

// TestReplaceChain_MatchesUpstream is the differential test of $call_replace_chain: chains
// of replaces of string literals, fused into one call, on strings with several, overlapping
// or no occurrences, with empty patterns, and on receivers that are not strings, return
// what go.starlark.net returns or fail with its message.
func TestReplaceChain_MatchesUpstream(t *testing.T) {
	receivers := []string{`"a&b<c>\"d\" & <<>>"`, `""`, `"aaaa"`, `"ünï&"`, `"&amp;"`, `"abcdefghijklmnop&<"`, `1`, `None`, `b"a&b"`, `["a"]`}
	chains := []string{
		`.replace("&", "&amp;").replace("<", "&lt;")`,
		`.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&quot;")`,
		`.replace("a", "aa").replace("aa", "a").replace("", "-")`,
		`.replace("", "").replace("a", "")`,
		`.replace("&", "&amp;").replace("&amp;", "&")`,
		`.replace("x", "y").replace("y", "z")`,
		// Chains of single bytes: fused in one pass (byteChain) when no replacement brings
		// in a later step's old, and step by step otherwise.
		`.replace("<", "&lt;").replace("&", "&amp;")`,
		`.replace("a", "").replace("&", "a")`,
		`.replace("a", "x").replace("a", "y")`,
		`.replace("a", "b").replace("b", "c")`,
		`.replace("é", "e").replace("&", "")`,
		`.replace("a", "a").replace("<", "<<")`,
		`.replace("a", "1").replace("b", "2").replace("c", "3").replace("d", "4").replace("e", "5").replace("f", "6").replace("g", "7").replace("h", "8").replace("i", "9").replace("j", "10").replace("k", "11").replace("l", "12").replace("m", "13").replace("n", "14").replace("o", "15").replace("p", "16").replace("&", "17")`,
	}
	var exprs []string
	for _, r := range receivers {
		for _, c := range chains {
			exprs = append(exprs, "("+r+")"+c)
		}
	}
	// Not fused (a count, a variable), and fused after a call that is not.
	exprs = append(exprs, `"aaa".replace("a", "b", 1).replace("b", "c")`, `[s.replace("a", "b").replace(s, "c") for s in ["ab"]][0]`,
		`"a-b".replace("-", "+").replace("+", "=").upper().replace("=", "").replace("A", "x")`)
	checkSameAsUpstream(t, exprs)
}

// TestReplaceChain_FusesOnlyLiterals shows which chains the rewriting fuses.
func TestReplaceChain_FusesOnlyLiterals(t *testing.T) {
	for src, want := range map[string]string{
		`x.replace("a", "b").replace("c", "d")`:                   `$call_replace_chain(x, "a", "b", "c", "d")`,
		`x.replace("a", "b").replace("c", "d").replace("e", "f")`: `$call_replace_chain(x, "a", "b", "c", "d", "e", "f")`,
		`f().replace("a", "b").replace("c", "d")`:                 `$call_replace_chain(f(), "a", "b", "c", "d")`,
		`x.replace("a", "b")`:                                     `$call_replace(x, "a", "b")`,
		`x.replace("a", y).replace("c", "d")`:                     `$call_replace($call_replace(x, "a", y), "c", "d")`,
		`x.replace("a", "b").replace(y, "d")`:                     `$call_replace($call_replace(x, "a", "b"), y, "d")`,
		`x.replace("a", "b", 1).replace("c", "d")`:                `$call_replace($call_replace(x, "a", "b", 1), "c", "d")`,
	} {
		e, err := syntax.ParseExpr("t.star", src, 0)
		if err != nil {
			t.Fatal(err)
		}
		if got := syntaxString((&rewriter{}).expr(e)); got != want {
			t.Errorf("%s rewritten to %s, want %s", src, got, want)
		}
	}
}

// syntaxString prints the calls, names and literals of e as Starlark.
func syntaxString(e syntax.Expr) string {
	switch e := e.(type) {
	case *syntax.CallExpr:
		var args []string
		for _, a := range e.Args {
			args = append(args, syntaxString(a))
		}
		return syntaxString(e.Fn) + "(" + strings.Join(args, ", ") + ")"
	case *syntax.Ident:
		return e.Name
	case *syntax.Literal:
		return e.Raw
	}
	return fmt.Sprintf("<%T>", e)
}

// checkSameAsUpstream evaluates each expression through a Loader and through
// go.starlark.net alone, and fails on any difference.
func checkSameAsUpstream(t *testing.T, exprs []string) {
	t.Helper()
	checkSameAsUpstreamWith(t, "", exprs)
}

// checkSameAsUpstreamWith is checkSameAsUpstream in a module that starts with prelude.
func checkSameAsUpstreamWith(t *testing.T, prelude string, exprs []string) {
	t.Helper()
	var src strings.Builder
	src.WriteString(prelude)
	for i, e := range exprs {
		fmt.Fprintf(&src, "def e%d():\n    return %s\n", i, e)
	}
	l, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	blob := []byte(src.String())
	id := code.HashBlob(blob)
	snap := &Snapshot{Commit: id, Tree: code.Tree{"app.star": id}, Blobs: mapBlobs{id: blob}}
	checked, err := l.Load(context.Background(), snap, "app.star")
	if err != nil {
		var se syntax.Error
		if errors.As(err, &se) {
			t.Fatalf("%v: %s", err, strings.Split(string(blob), "\n")[se.Pos.Line-1])
		}
		t.Fatal(err)
	}
	plain, err := starlark.ExecFileOptions(Dialect(), &starlark.Thread{}, "app.star", blob, nil)
	if err != nil {
		t.Fatal(err)
	}
	fast := 0
	for i, e := range exprs {
		name := fmt.Sprintf("e%d", i)
		want, wantErr := starlark.Call(&starlark.Thread{}, plain[name], nil, nil)
		got, gotErr := l.Call(context.Background(), snap, checked[name].(starlark.Callable), nil, nil, CallOptions{})
		switch {
		case wantErr != nil && refusesFlags(evalMsg(wantErr)):
			// Upstream refuses flags, widths and precisions, which the Loader formats as
			// Python does (percentflags.go; TestPercentFlags_MatchPython).
		case wantErr != nil && gotErr != nil:
			if w, g := evalMsg(wantErr), evalMsg(gotErr); w != g {
				t.Errorf("%s: upstream fails with %q, the Loader with %q", e, w, g)
			}
		case wantErr != nil:
			t.Errorf("%s: upstream fails with %q, the Loader returns %s", e, evalMsg(wantErr), got)
		case gotErr != nil:
			t.Errorf("%s: upstream returns %s, the Loader fails with %q", e, want, evalMsg(gotErr))
		default:
			if eq, err := starlark.Equal(want, got); err != nil || !eq || want.Type() != got.Type() {
				t.Errorf("%s: upstream returns %s, the Loader %s", e, want, got)
			}
			fast++
		}
	}
	if fast < len(exprs)/4 {
		t.Errorf("only %d of %d expressions succeeded: the generator does not exercise the fast paths", fast, len(exprs))
	}
}

// refusesFlags reports whether msg is upstream's refusal of a conversion with flags, a
// width or a precision ("unknown conversion %0").
func refusesFlags(msg string) bool {
	c, ok := strings.CutPrefix(msg, "unknown conversion %")
	return ok && len(c) > 0 && strings.ContainsRune("-+ #0123456789.*", rune(c[0]))
}

func evalMsg(err error) string {
	var ee *starlark.EvalError
	if errors.As(err, &ee) {
		return ee.Msg
	}
	return err.Error()
}

// mapBlobs is a BlobSource over a map.
type mapBlobs map[code.ID][]byte

func (m mapBlobs) Blob(_ context.Context, id code.ID) ([]byte, error) {
	if b, ok := m[id]; ok {
		return b, nil
	}
	return nil, fmt.Errorf("no blob %s", id)
}

// upstreamPercent is format % y as go.starlark.net computes it.
func upstreamPercent(format string, y starlark.Value) (starlark.Value, error) {
	return starlark.Binary(syntax.PERCENT, starlark.String(format), y)
}

// upstreamFormat is format.format(*args) as go.starlark.net computes it.
func upstreamFormat(format string, args starlark.Tuple) (starlark.Value, error) {
	m, err := starlark.String(format).Attr("format")
	if err != nil {
		return nil, err
	}
	return starlark.Call(&starlark.Thread{}, m, args, nil)
}

// fuzzArgs turns fuzzed scalars into arguments of the fast paths.
func fuzzArgs(s string, i int64, kind uint8) starlark.Tuple {
	values := []starlark.Value{starlark.String(s), starlark.MakeInt64(i), starlark.Bool(i%2 == 0), starlark.None, starlark.Float(float64(i) / 3)}
	var args starlark.Tuple
	for k := range int(kind % 4) {
		args = append(args, values[(int(kind)/4+k)%len(values)])
	}
	return args
}

// FuzzPercent checks that fastPercent, when it answers, answers what go.starlark.net's %
// answers.
func FuzzPercent(f *testing.F) {
	f.Add("<td>%s</td><td>%d</td>", "a&b", int64(42), uint8(2))
	f.Add("%r%%%i", "", int64(-9223372036854775808), uint8(6))
	f.Add("%s", "x", int64(1), uint8(1))
	f.Fuzz(func(t *testing.T, format, s string, i int64, kind uint8) {
		args := fuzzArgs(s, i, kind)
		for _, y := range []starlark.Value{args, starlark.String(s), starlark.MakeInt64(i)} {
			got, ok := fastPercent(format, y, 1<<20)
			if !ok {
				continue
			}
			want, err := upstreamPercent(format, y)
			if err != nil {
				t.Fatalf("%q %% %s: fast path gives %q, upstream fails: %v", format, y, got, err)
			}
			if string(want.(starlark.String)) != got {
				t.Fatalf("%q %% %s: fast path gives %q, upstream %q", format, y, got, want)
			}
		}
	})
}

// FuzzReplace checks that the fast path of the direct call s.replace(old, repl), when it
// answers, answers what go.starlark.net's str.replace answers.
func FuzzReplace(f *testing.F) {
	f.Add("a&b<c>&&", "&", "&amp;")
	f.Add("aaaa", "aa", "a")
	f.Add("ünï", "", "-")
	f.Add("abc", "abc", "")
	f.Fuzz(func(t *testing.T, s, old, repl string) {
		c := newChecks(DefaultLimits())
		args := starlark.Tuple{starlark.String(s), starlark.String(old), starlark.String(repl)}
		thread := &starlark.Thread{}
		got, err := c.directMethodBuiltins()[checkRepl].(*starlark.Builtin).CallInternal(thread, args, nil)
		if err != nil {
			t.Fatalf("%q.replace(%q, %q): %v", s, old, repl, err)
		}
		want, err := upstreamReplace(starlark.String(s), args[1], args[2])
		if err != nil {
			t.Fatalf("upstream %q.replace(%q, %q): %v", s, old, repl, err)
		}
		if got != want {
			t.Fatalf("%q.replace(%q, %q): fast path gives %q, upstream %q", s, old, repl, got, want)
		}
	})
}

// upstreamReplace is s.replace(old, repl) as go.starlark.net computes it.
func upstreamReplace(s starlark.String, old, repl starlark.Value) (starlark.Value, error) {
	m, err := s.Attr("replace")
	if err != nil {
		return nil, err
	}
	return starlark.Call(&starlark.Thread{}, m, starlark.Tuple{old, repl}, nil)
}

// chainArgs makes the arguments of a replace chain after its receiver: step i replaces
// olds[i] (one byte) by the i-th of repls split at "|".
func chainArgs(olds, repls string) starlark.Tuple {
	parts := strings.Split(repls, "|")
	var args starlark.Tuple
	for i := range min(len(olds), len(parts), maxByteChain+2) {
		args = append(args, starlark.String(olds[i:i+1]), starlark.String(parts[i]))
	}
	return args
}

// FuzzReplaceChain checks that a replace chain of single bytes (byteChain, when it takes
// the chain) answers what go.starlark.net's str.replace answers, step after step.
func FuzzReplaceChain(f *testing.F) {
	f.Add("a&b<c>\"d\" & <<>>", "&<>\"", "&amp;|&lt;|&gt;|&quot;")
	f.Add("<a&b>", "<&", "&lt;|&amp;")
	f.Add("aab", "ab", "|a")
	f.Add("ünï", "\xc3a", "?|")
	f.Fuzz(func(t *testing.T, s, olds, repls string) {
		pairs := chainArgs(olds, repls)
		if len(pairs) < 4 {
			return
		}
		c := newChecks(DefaultLimits())
		thread := &starlark.Thread{}
		chain := c.directMethodBuiltins()[checkRepl].(*starlark.Builtin)
		got, err := c.replaceChain(thread, starlark.NewBuiltin("$call_replace_chain", nil), chain, append(starlark.Tuple{starlark.String(s)}, pairs...), nil)
		var want starlark.Value = starlark.String(s)
		for i := 0; i < len(pairs) && err == nil; i += 2 {
			want, err = upstreamReplace(want.(starlark.String), pairs[i], pairs[i+1])
		}
		if err != nil {
			t.Fatalf("%q%s: %v", s, pairs, err)
		}
		if got != want {
			t.Fatalf("%q replaced by %s: the chain gives %q, the steps %q", s, pairs, got, want)
		}
	})
}

// TestByteChain_ChecksAndChargesAsTheStepsWould runs generated chains of single bytes
// through byteChain and, step by step, through fastReplace (what the chain ran before),
// each on a thread of its own execution, under limits that the strings sometimes exceed:
// where byteChain answers, the steps answer the same and charge the same bytes; where a
// step declines (over MaxAllocBytes), byteChain declines, having charged nothing; and
// byteChain takes every chain whose replacements bring in no later step's old.
func TestByteChain_ChecksAndChargesAsTheStepsWould(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 14))
	const alphabet = "a&<>\"é"
	pick := func(n int) string {
		var b strings.Builder
		for range r.IntN(n) {
			b.WriteByte(alphabet[r.IntN(len(alphabet))])
		}
		return b.String()
	}
	taken, declined := 0, 0
	for range 5000 {
		s := strings.Repeat(pick(12), 1+r.IntN(4))
		var pairs starlark.Tuple
		for range 1 + r.IntN(4) {
			pairs = append(pairs, starlark.String(alphabet[r.IntN(len(alphabet)):][:1]), starlark.String(pick(6)))
		}
		lim := DefaultLimits()
		lim.MaxAllocBytes = ByteSize(len(s) + r.IntN(3*len(s)+2))
		c := newChecks(lim)
		fused, stepped := chargedThread(), chargedThread()

		got, changed, ok := c.byteChain(fused.thread, s, pairs)
		want, anyChanged, stepsOK := s, false, true
		for i := 0; i < len(pairs) && stepsOK; i += 2 {
			var replaced bool
			want, replaced, stepsOK = c.fastReplace(stepped.thread, want, string(pairs[i].(starlark.String)), string(pairs[i+1].(starlark.String)))
			anyChanged = anyChanged || replaced
		}
		if !ok {
			if fused.e.charged.Load() != 0 {
				t.Fatalf("%q%s: byteChain declined after charging %d bytes", s, pairs, fused.e.charged.Load())
			}
			if stepsOK && eligibleByteChain(pairs) {
				t.Fatalf("%q%s: byteChain declined a chain of single bytes that the steps answer", s, pairs)
			}
			declined++
			continue
		}
		taken++
		if !stepsOK {
			t.Fatalf("%q%s under %d bytes: byteChain answers %q, a step declines", s, pairs, lim.MaxAllocBytes, got)
		}
		if got != want || changed != anyChanged {
			t.Fatalf("%q%s: byteChain gives %q (changed %v), the steps %q (changed %v)", s, pairs, got, changed, want, anyChanged)
		}
		if f, st := fused.e.charged.Load(), stepped.e.charged.Load(); f != st {
			t.Fatalf("%q%s: byteChain charged %d bytes, the steps %d", s, pairs, f, st)
		}
	}
	if taken < 1000 || declined < 500 {
		t.Errorf("byteChain took %d chains and declined %d of 5000: the generator no longer covers both", taken, declined)
	}
}

// eligibleByteChain says whether byteChain is to take the chain: distinct single-byte
// olds, no replacement holding a later step's old.
func eligibleByteChain(pairs starlark.Tuple) bool {
	for i := 0; i < len(pairs); i += 2 {
		old := string(pairs[i].(starlark.String))
		if len(old) != 1 {
			return false
		}
		for j := i + 2; j < len(pairs); j += 2 {
			later := string(pairs[j].(starlark.String))
			if later == old || strings.Contains(string(pairs[i+1].(starlark.String)), later) {
				return false
			}
		}
	}
	return len(pairs)/2 <= maxByteChain
}

// chargedRun is a thread bound to an execution of its own, whose charges it counts
// (made by chargedThread).
type chargedRun struct {
	thread *starlark.Thread
	e      *execution
}

func chargedThread() chargedRun {
	e := &execution{ctx: context.Background(), loader: &Loader{watchdog: newWatchdog(context.Background(), 0, slog.New(slog.DiscardHandler))}}
	e.thread.SetLocal(executionLocal, e)
	return chargedRun{&e.thread, e}
}

// FuzzFormat checks that fastFormat, when it answers, answers what go.starlark.net's
// str.format answers.
func FuzzFormat(f *testing.F) {
	f.Add("<td>{}</td><td>{}</td>", "a&b", int64(42), uint8(2))
	f.Add("{{}}{}}}", "", int64(-1), uint8(5))
	f.Fuzz(func(t *testing.T, format, s string, i int64, kind uint8) {
		args := fuzzArgs(s, i, kind)
		got, ok := fastFormat(format, args, nil, 1<<20)
		if !ok {
			return
		}
		want, err := upstreamFormat(format, args)
		if err != nil {
			t.Fatalf("%q.format%s: fast path gives %q, upstream fails: %v", format, args, got, err)
		}
		if string(want.(starlark.String)) != got {
			t.Fatalf("%q.format%s: fast path gives %q, upstream %q", format, args, got, want)
		}
	})
}

// TestFastPaths_DeclineWhatTheyDoNotKnow checks that each fast path answers the common
// cases (so that the differential tests above test something) and declines the others.
func TestFastPaths_DeclineWhatTheyDoNotKnow(t *testing.T) {
	big := starlark.MakeInt(1).Lsh(70)
	for _, tc := range []struct {
		format string
		y      starlark.Value
		ok     bool
	}{
		{"<td>%s</td><td>%d</td>", starlark.Tuple{starlark.String("a"), starlark.MakeInt(3)}, true},
		{"%r %s %i %%", starlark.Tuple{starlark.None, starlark.True, starlark.MakeInt(-5)}, true},
		{"%d", starlark.String("3"), false},                    // an error: the general path reports it
		{"%d", starlark.Float(1.5), false},                     // upstream truncates floats
		{"%s", big, false},                                     // beyond 64 bits
		{"%r", starlark.String("q"), false},                    // quoting
		{"%x", starlark.MakeInt(255), false},                   // other conversions
		{"%(a)s", starlark.NewDict(0), false},                  // mappings
		{"%s %s", starlark.Tuple{starlark.String("a")}, false}, // too few
		{"%s", starlark.Tuple{}, false},
		{"x", starlark.Tuple{starlark.String("a")}, false}, // too many
	} {
		if _, ok := fastPercent(tc.format, tc.y, 1<<20); ok != tc.ok {
			t.Errorf("fastPercent(%q, %s): ok = %v, want %v", tc.format, tc.y, ok, tc.ok)
		}
	}
	// A text over the budget is declined, for the general path to refuse.
	if _, ok := fastPercent("%s%s", starlark.Tuple{starlark.String("abc"), starlark.String("de")}, 4); ok {
		t.Error("fastPercent answered a text of 5 bytes within a budget of 4")
	}
	if _, ok := fastFormat("{}{}", starlark.Tuple{starlark.String("abc"), starlark.String("de")}, nil, 4); ok {
		t.Error("fastFormat answered a text of 5 bytes within a budget of 4")
	}
	if _, ok := fastJoin(",", starlark.NewList([]starlark.Value{starlark.String("ab"), starlark.String("cd")}), 4); ok {
		t.Error("fastJoin answered a text of 5 bytes within a budget of 4")
	}
	if s, ok := fastJoin("-", starlark.Tuple{starlark.String("a"), starlark.String("b")}, 1<<20); !ok || s != "a-b" {
		t.Errorf(`fastJoin("-", ("a", "b")) = %q, %v, want "a-b", true`, s, ok)
	}
	if _, ok := fastFormat("{0}", starlark.Tuple{starlark.String("a")}, nil, 1<<20); ok {
		t.Error("fastFormat answered manual numbering, which it leaves to the general path")
	}
}

// TestConcat_RefusesLikeTheChain checks that a fused chain of + refuses a result over
// MaxAllocBytes as the chain would, naming the + that passes the limit, and allocates
// nothing of it.
func TestConcat_RefusesLikeTheChain(t *testing.T) {
	const max = 1 << 20
	l, err := New(Options{Limits: Limits{MaxAllocBytes: max}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	blob := []byte(`
def run(n):
    s = "x" * n
    return s + s + "y" + s
`)
	id := code.HashBlob(blob)
	snap := &Snapshot{Commit: id, Tree: code.Tree{"app.star": id}, Blobs: mapBlobs{id: blob}}
	g, err := l.Load(context.Background(), snap, "app.star")
	if err != nil {
		t.Fatal(err)
	}
	run := g["run"].(starlark.Callable)
	v, err := l.Call(context.Background(), snap, run, starlark.Tuple{starlark.MakeInt(1000)}, nil, CallOptions{})
	if err != nil || len(v.(starlark.String)) != 3001 {
		t.Fatalf("run(1000) = %v, %v, want a string of 3001 bytes", v, err)
	}
	_, err = l.Call(context.Background(), snap, run, starlark.Tuple{starlark.MakeInt(max / 2)}, nil, CallOptions{})
	if !errors.Is(err, ErrMemoryLimit) || !strings.Contains(err.Error(), "string + string") {
		t.Fatalf("run(max/2) = %v, want ErrMemoryLimit naming string + string", err)
	}
}

// TestFastPaths_AdmitNothingTheGeneralCheckRefuses checks, at every MaxAllocBytes from 1 to
// 160 bytes, that whatever a fast path answers the general check (sizes.go) would have
// admitted too: a refusal never depends on which path ran.
func TestFastPaths_AdmitNothingTheGeneralCheckRefuses(t *testing.T) {
	scalars := []starlark.Value{starlark.String(""), starlark.String("<td>name</td>"), starlark.MakeInt(7),
		starlark.MakeInt64(-9223372036854775808), starlark.True, starlark.None}
	thread := &starlark.Thread{}
	answered := 0
	for max := int64(1); max <= 160; max++ {
		c := newChecks(Limits{MaxAllocBytes: ByteSize(max), MaxCallDepth: 100, MaxResponseBytes: 1 << 20})
		for _, a := range scalars {
			for _, b := range scalars {
				y := starlark.Tuple{a, b}
				if _, ok := fastPercent("<tr>%s|%s</tr>", y, max); ok {
					answered++
					if n, _ := percentSize("<tr>%s|%s</tr>", y, max); n > max {
						t.Errorf("max %d: fastPercent answered %s, which percentSize sizes at %d", max, y, n)
					}
				}
				if _, ok := fastFormat("<tr>{}|{}</tr>", y, nil, max); ok {
					if n, _ := formatSize("<tr>{}|{}</tr>", y, nil, max); n > max {
						t.Errorf("max %d: fastFormat answered %s, which formatSize sizes at %d", max, y, n)
					}
				}
				if a, ok := a.(starlark.String); ok {
					if b, ok := b.(starlark.String); ok {
						list := starlark.NewList([]starlark.Value{a, b, a})
						if _, ok := fastJoin(",", list, max); ok {
							if n, _ := c.joinSize(starlark.String(","), starlark.Tuple{list}, nil); n > max {
								t.Errorf("max %d: fastJoin answered %s, which joinSize sizes at %d", max, list, n)
							}
						}
						args := starlark.Tuple{starlark.String("<"), starlark.String("&lt;")}
						recv := a + b
						if _, err := c.directMethodBuiltins()[checkRepl].(*starlark.Builtin).CallInternal(thread, append(starlark.Tuple{recv}, args...), nil); err == nil {
							if n, _ := replaceSize(recv, args, nil); n > max {
								t.Errorf("max %d: replace answered %q.replace%s, which replaceSize sizes at %d", max, recv, args, n)
							}
						}
					}
				}
			}
			general := starlark.NewBuiltin("str", func(*starlark.Thread, *starlark.Builtin, starlark.Tuple, []starlark.Tuple) (starlark.Value, error) {
				return nil, nil // nil: the general path ran
			})
			if v, _ := c.str(general)(thread, nil, starlark.Tuple{a}, nil); v != nil {
				if n, _ := c.text(false).size(starlark.Tuple{a}, nil); n > max {
					t.Errorf("max %d: str(%s) was answered by the fast path, which the general check sizes at %d", max, a, n)
				}
			}
		}
	}
	if answered == 0 {
		t.Fatal("the fast paths answered nothing: the test tests nothing")
	}
}

// BenchmarkByteChain is the escaping of one table cell, as the benchmark app's escape() does.
func BenchmarkByteChain(b *testing.B) {
	c := newChecks(DefaultLimits())
	thread := &starlark.Thread{}
	pairs := starlark.Tuple{starlark.String("&"), starlark.String("&amp;"), starlark.String("<"), starlark.String("&lt;"),
		starlark.String(">"), starlark.String("&gt;"), starlark.String(`"`), starlark.String("&quot;")}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, ok := c.byteChain(thread, "Item 42 <c & co>", pairs); !ok {
			b.Fatal("declined")
		}
	}
}
