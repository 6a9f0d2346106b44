// Tests of the line diff and the three-way merge: node --test (run by test.sh).
import { test } from "node:test";
import assert from "node:assert/strict";
import { diffLines, merge3, splitLines, unified, hasConflictMarkers } from "./diff.js";

test("diffLines finds the smallest change", () => {
  assert.deepEqual(diffLines(splitLines("a\nb\nc\nd\n"), splitLines("a\nc\nd\ne\n")), [
    { aStart: 1, aEnd: 2, lines: [] },
    { aStart: 4, aEnd: 4, lines: ["e"] },
  ]);
  assert.deepEqual(diffLines(["x"], ["x"]), []);
});

test("unified shows context, removals and additions", () => {
  const kinds = unified(splitLines("1\n2\n3\n"), splitLines("1\nTWO\n3\n")).map((l) => l.kind + l.text);
  assert.deepEqual(kinds, ["@@@ line 1 @@", " 1", "-2", "+TWO", " 3"]);
});

test("merge3 merges changes to different lines cleanly", () => {
  assert.deepEqual(merge3("a\nb\nc\n", "A\nb\nc\n", "a\nb\nC\n"), { text: "A\nb\nC\n", conflicts: 0 });
  assert.deepEqual(merge3("a\nb\nc\n", "a\nB\nc\n", "a\nb\nC\n"), { text: "a\nB\nC\n", conflicts: 0 });
});

test("merge3 keeps both sides of a conflict between markers", () => {
  const m = merge3("a\nb\nc\n", "a\nX\nc\n", "a\nY\nc\n");
  assert.equal(m.conflicts, 1);
  assert.equal(m.text, "a\n<<<<<<< yours\nX\n||||||| base\nb\n=======\nY\n>>>>>>> theirs\nc\n");
  assert.ok(hasConflictMarkers(m.text));
});

test("merge3 takes identical changes once and one-sided changes as they are", () => {
  assert.deepEqual(merge3("a\n", "b\n", "b\n"), { text: "b\n", conflicts: 0 });
  assert.deepEqual(merge3("a\n", "a\n", "t\n"), { text: "t\n", conflicts: 0 });
  assert.deepEqual(merge3("a\n", "y\n", "a\n"), { text: "y\n", conflicts: 0 });
});

test("merge3 treats insertions at the same place as a conflict", () => {
  const m = merge3("a\nb\n", "a\nY\nb\n", "a\nT\nb\n");
  assert.equal(m.conflicts, 1);
  assert.ok(m.text.includes("Y") && m.text.includes("T"));
});
