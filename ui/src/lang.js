// Languages by file name, and the Starlark completions: predeclared names (served by the
// node from the sandbox's own list), names a module loads and defines, and load() paths.

import { python, pythonLanguage } from "@codemirror/lang-python";
import { html } from "@codemirror/lang-html";
import { css } from "@codemirror/lang-css";
import { javascript } from "@codemirror/lang-javascript";
import { json } from "@codemirror/lang-json";
import { markdown } from "@codemirror/lang-markdown";

export function languageFor(path) {
  const ext = path.slice(path.lastIndexOf(".") + 1).toLowerCase();
  switch (ext) {
    case "star":
    case "py":
      return python();
    case "html":
    case "htm":
    case "tmpl":
      return html();
    case "css":
      return css();
    case "js":
    case "mjs":
      return javascript();
    case "json":
      return json();
    case "md":
    case "markdown":
      return markdown();
  }
  return [];
}

// loadsOf returns the load statements of a module's source: [{module, names: [{local,
// remote}], line}].
export function loadsOf(src) {
  const out = [];
  const re = /^load\(\s*"([^"]*)"((?:\s*,\s*(?:\w+\s*=\s*)?"[^"]*")*)\s*,?\s*\)/gm;
  let m;
  while ((m = re.exec(src))) {
    const names = [];
    const nre = /(?:(\w+)\s*=\s*)?"([^"]*)"/g;
    let n;
    while ((n = nre.exec(m[2]))) names.push({ local: n[1] || n[2], remote: n[2] });
    out.push({ module: m[1], names, line: src.slice(0, m.index).split("\n").length });
  }
  return out;
}

// definitionsOf returns the top-level names a module defines, with their lines.
export function definitionsOf(src) {
  const out = new Map();
  const lines = src.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const m = /^(?:def\s+(\w+)|(\w+)\s*(?:=[^=]|:))/.exec(lines[i]);
    const name = m && (m[1] || m[2]);
    if (name && !out.has(name)) out.set(name, i + 1);
  }
  return out;
}

// starlarkCompletions returns a completion source for .star files. ctx provides
// predeclared() (the names list), paths() (the tree's .star paths) and source(path).
export function starlarkCompletions(ctx) {
  return (cc) => {
    const line = cc.state.doc.lineAt(cc.pos);
    const before = line.text.slice(0, cc.pos - line.from);
    // load("pa|
    let m = /^load\(\s*"([^"]*)$/.exec(before);
    if (m) {
      return {
        from: cc.pos - m[1].length,
        options: ctx.paths().filter((p) => p.endsWith(".star") && !p.endsWith("_test.star")).map((p) => ({ label: p, type: "namespace" })),
        validFor: /^[^"]*$/,
      };
    }
    // load("mod.star", "na|
    m = /^load\(\s*"([^"]*)"\s*,.*"(\w*)$/.exec(before);
    if (m) {
      const src = ctx.source(m[1]);
      if (src == null) return null;
      return {
        from: cc.pos - m[2].length,
        options: [...definitionsOf(src).keys()].filter((n) => !n.startsWith("_")).map((n) => ({ label: n, type: "variable", detail: m[1] })),
        validFor: /^\w*$/,
      };
    }
    // module.mem|
    m = /(\w+)\.(\w*)$/.exec(before);
    if (m) {
      const mod = ctx.predeclared().find((n) => n.name === m[1] && n.members);
      if (!mod) return null;
      return { from: cc.pos - m[2].length, options: mod.members.map((x) => ({ label: x, type: "property", detail: m[1] })), validFor: /^\w*$/ };
    }
    const word = cc.matchBefore(/\w+/);
    if (!word && !cc.explicit) return null;
    const doc = cc.state.doc.toString();
    const options = ctx.predeclared().map((n) => ({ label: n.name, type: n.kind === "function" ? "function" : n.kind === "module" ? "namespace" : "constant", detail: "predeclared" }));
    for (const ld of loadsOf(doc)) for (const n of ld.names) options.push({ label: n.local, type: "variable", detail: "from " + ld.module });
    for (const name of definitionsOf(doc).keys()) options.push({ label: name, type: "variable", detail: "this module" });
    return { from: word ? word.from : cc.pos, options, validFor: /^\w*$/ };
  };
}

export { pythonLanguage };
