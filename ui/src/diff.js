// Line diffs and three-way merges, for the conflict view and for rebasing pending edits
// onto a newer commit.

// maxCells bounds the work of one diff (the product of the lengths of the differing
// middles): beyond it the middle is reported as one replaced block.
const maxCells = 4_000_000;

export function splitLines(text) {
  if (text === "") return [];
  const lines = text.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  return lines;
}

// diffLines returns the hunks that turn lines a into lines b: {aStart, aEnd, lines} where
// a[aStart:aEnd] is replaced by lines. Hunks are sorted and do not overlap.
export function diffLines(a, b) {
  let pre = 0;
  while (pre < a.length && pre < b.length && a[pre] === b[pre]) pre++;
  let suf = 0;
  while (suf < a.length - pre && suf < b.length - pre && a[a.length - 1 - suf] === b[b.length - 1 - suf]) suf++;
  const am = a.slice(pre, a.length - suf), bm = b.slice(pre, b.length - suf);
  if (am.length === 0 && bm.length === 0) return [];
  if (am.length === 0 || bm.length === 0 || am.length * bm.length > maxCells) {
    return [{ aStart: pre, aEnd: pre + am.length, lines: bm }];
  }
  // Longest common subsequence by dynamic programming over the middles.
  const n = am.length, m = bm.length, w = m + 1;
  const lcs = new Uint32Array((n + 1) * w);
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i * w + j] = am[i] === bm[j] ? lcs[(i + 1) * w + j + 1] + 1 : Math.max(lcs[(i + 1) * w + j], lcs[i * w + j + 1]);
    }
  }
  const hunks = [];
  let i = 0, j = 0, cur = null;
  const flush = () => { if (cur) { hunks.push(cur); cur = null; } };
  while (i < n || j < m) {
    if (i < n && j < m && am[i] === bm[j]) { flush(); i++; j++; continue; }
    if (!cur) cur = { aStart: pre + i, aEnd: pre + i, lines: [] };
    if (j < m && (i === n || lcs[i * w + j + 1] >= lcs[(i + 1) * w + j])) { cur.lines.push(bm[j]); j++; }
    else { i++; cur.aEnd = pre + i; }
  }
  flush();
  return hunks;
}

// unified renders the hunks between a and b as unified-diff lines [{kind, text}] with
// context lines of context; kind is " ", "-", "+" or "@".
export function unified(a, b, context = 3) {
  const hunks = diffLines(a, b);
  const out = [];
  let k = 0;
  while (k < hunks.length) {
    // Group hunks whose contexts touch.
    let end = k;
    while (end + 1 < hunks.length && hunks[end + 1].aStart - hunks[end].aEnd <= 2 * context) end++;
    const from = Math.max(0, hunks[k].aStart - context), to = Math.min(a.length, hunks[end].aEnd + context);
    out.push({ kind: "@", text: `@@ line ${from + 1} @@` });
    let pos = from;
    for (let h = k; h <= end; h++) {
      for (; pos < hunks[h].aStart; pos++) out.push({ kind: " ", text: a[pos] });
      for (; pos < hunks[h].aEnd; pos++) out.push({ kind: "-", text: a[pos] });
      for (const l of hunks[h].lines) out.push({ kind: "+", text: l });
    }
    for (; pos < to; pos++) out.push({ kind: " ", text: a[pos] });
    k = end + 1;
  }
  return out;
}

export const markers = { yours: "<<<<<<< yours", base: "||||||| base", sep: "=======", theirs: ">>>>>>> theirs" };

// merge3 merges the changes from base to yours and from base to theirs (texts). It returns
// {text, conflicts}: where both sides changed the same lines differently, text holds both
// versions between conflict markers and conflicts counts such places.
export function merge3(base, yours, theirs) {
  if (yours === theirs) return { text: yours, conflicts: 0 };
  if (yours === base) return { text: theirs, conflicts: 0 };
  if (theirs === base) return { text: yours, conflicts: 0 };
  const b = splitLines(base), y = splitLines(yours), t = splitLines(theirs);
  const hy = diffLines(b, y).map((h) => ({ ...h, side: "y" }));
  const ht = diffLines(b, t).map((h) => ({ ...h, side: "t" }));
  const all = [...hy, ...ht].sort((p, q) => p.aStart - q.aStart || p.aEnd - q.aEnd);
  const out = [];
  let pos = 0, conflicts = 0, k = 0;
  const apply = (hunks, start, end) => {
    const res = [];
    let p = start;
    for (const h of hunks) {
      for (; p < h.aStart; p++) res.push(b[p]);
      res.push(...h.lines);
      p = h.aEnd;
    }
    for (; p < end; p++) res.push(b[p]);
    return res;
  };
  while (k < all.length) {
    let start = all[k].aStart, end = all[k].aEnd;
    const group = [all[k]];
    k++;
    // Hunks overlap when they share a base line, or insert at the same place.
    while (k < all.length && (all[k].aStart < end || (all[k].aStart === end && (all[k].aStart === all[k].aEnd || start === end)))) {
      end = Math.max(end, all[k].aEnd);
      group.push(all[k]);
      k++;
    }
    for (; pos < start; pos++) out.push(b[pos]);
    const gy = group.filter((h) => h.side === "y"), gt = group.filter((h) => h.side === "t");
    const vy = apply(gy, start, end), vt = apply(gt, start, end);
    if (gt.length === 0) out.push(...vy);
    else if (gy.length === 0) out.push(...vt);
    else if (vy.join("\n") === vt.join("\n")) out.push(...vy);
    else {
      conflicts++;
      out.push(markers.yours, ...vy, markers.base, ...b.slice(start, end), markers.sep, ...vt, markers.theirs);
    }
    pos = end;
  }
  for (; pos < b.length; pos++) out.push(b[pos]);
  const trailing = (yours.endsWith("\n") || theirs.endsWith("\n")) && out.length > 0 ? "\n" : "";
  return { text: out.join("\n") + trailing, conflicts };
}

// hasConflictMarkers reports whether text still holds an unresolved merge3 conflict.
export function hasConflictMarkers(text) {
  return text.split("\n").some((l) => l === markers.yours || l === markers.theirs);
}
