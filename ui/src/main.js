// The Starbase web editor: one page served at /-/ui/ by every node. It works through the
// API only, as the session's token allows: a reader browses and compares, a developer also
// edits, checks, commits and reverts.
//
// The model: the editor edits from one commit, the base. Pending changes (path -> new text,
// or null for a deleted file) are kept in localStorage with their base, so they survive a
// reload until committed or discarded. A commit pushes the whole tree expecting the ref to be
// at the base; if it moved, the conflict view shows both changes and nothing is overwritten.

import { basicSetup } from "codemirror";
import { EditorState, Prec } from "@codemirror/state";
import { EditorView, keymap, Decoration } from "@codemirror/view";
import { lintGutter, setDiagnostics } from "@codemirror/lint";
import { StateField, StateEffect } from "@codemirror/state";
import { call, setCSRF, decodeFile, encodeText, APIError } from "./api.js";
import { languageFor, starlarkCompletions, pythonLanguage, loadsOf, definitionsOf } from "./lang.js";
import { splitLines, unified, merge3, hasConflictMarkers } from "./diff.js";

const REF = "main";
const pendingKey = "starbase.pending." + REF;
const loggedInKey = "starbase.session";
const checkDelay = 700; // ms of quiet typing before a check

const S = {
  session: null, // {name, role}
  base: null, // {commit, files: Map(path -> {b64, text})}
  pending: { base: "", files: {} },
  head: "", // the ref's commit when last seen
  browse: null, // {commit, files} of a commit browsed read-only, or null
  commitFiles: new Map(), // commit -> files Map, for read-only views
  tabs: [], // {key, path, commit (null = working), state}
  active: null,
  problems: [],
  tests: [],
  checking: false,
  checkSeq: 0,
  predeclared: [],
  collapsed: new Set(),
};

let view = null; // the EditorView of the active tab
// nonce is the page's CSP nonce, which CodeMirror's <style> element must carry: the policy
// allows no other inline style.
const nonce = document.currentScript ? document.currentScript.nonce : "";
const baseExtensions = [EditorView.cspNonce.of(nonce)];
let checkTimer = 0;

// ---- DOM helpers ---------------------------------------------------------------------

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c != null && c !== false) el.append(c instanceof Node ? c : String(c));
  return el;
}

const $ = (sel) => document.querySelector(sel);
const short = (id) => (id || "").slice(0, 10);
const canWrite = () => S.session && (S.session.role === "developer" || S.session.role === "admin");
const when = (t) => (t ? new Date(t).toLocaleString() : "");

function toast(msg, kind = "info") {
  const el = $("#toast");
  if (!el) return;
  el.textContent = msg;
  el.className = "toast " + kind;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => (el.className = "toast hidden"), kind === "error" ? 8000 : 4000);
}

// dialog shows a modal; with a value it asks for text. It resolves to the text (or true),
// or null when cancelled.
function dialog({ title, text, value, ok = "OK", multiline = false }) {
  return new Promise((resolve) => {
    const input = value == null ? null : h(multiline ? "textarea" : "input", { class: "dialog-input", id: "dialog-input", rows: multiline ? "4" : null });
    if (input) input.value = value;
    const close = (v) => {
      overlay.remove();
      resolve(v);
    };
    const okBtn = h("button", { class: "primary", id: "dialog-ok", onclick: () => close(input ? input.value : true) }, ok);
    const overlay = h("div", { class: "overlay", onkeydown: (e) => {
      if (e.key === "Escape") close(null);
      if (e.key === "Enter" && (!multiline || e.ctrlKey || e.metaKey)) { e.preventDefault(); okBtn.click(); }
    } },
      h("div", { class: "dialog", role: "dialog", "aria-label": title },
        h("h2", {}, title), text ? h("p", {}, text) : null, input,
        h("div", { class: "dialog-buttons" }, h("button", { onclick: () => close(null) }, "Cancel"), okBtn)));
    document.body.append(overlay);
    (input || okBtn).focus();
    if (input && !multiline) input.select();
  });
}

// ---- pending changes -----------------------------------------------------------------

function loadPending() {
  try {
    const p = JSON.parse(localStorage.getItem(pendingKey) || "null");
    if (p && typeof p.base === "string" && p.files && typeof p.files === "object") return p;
  } catch {}
  return { base: "", files: {} };
}

function savePending() {
  if (Object.keys(S.pending.files).length === 0) localStorage.removeItem(pendingKey);
  else localStorage.setItem(pendingKey, JSON.stringify(S.pending));
  renderChangeCount();
}

const baseText = (path) => S.base.files.get(path)?.text;
const isPending = (path) => Object.prototype.hasOwnProperty.call(S.pending.files, path);

// workingText is the text of path in the working tree (undefined when absent or binary).
function workingText(path) {
  if (isPending(path)) return S.pending.files[path] ?? undefined;
  return baseText(path) ?? undefined;
}

function workingPaths() {
  const out = new Set(S.base.files.keys());
  for (const [p, v] of Object.entries(S.pending.files)) v === null ? out.delete(p) : out.add(p);
  return [...out].sort();
}

// setWorking records text (null = deleted) as path's content in the working tree.
function setWorking(path, text) {
  const base = S.base.files.get(path);
  if ((base && text !== null && base.text === text) || (!base && text === null)) delete S.pending.files[path];
  else S.pending.files[path] = text;
  S.pending.base = S.base.commit;
  savePending();
}

// workingFiles returns the working tree as the API sends files (base64).
function workingFiles() {
  const files = {};
  for (const p of workingPaths()) {
    files[p] = isPending(p) ? encodeText(S.pending.files[p]) : S.base.files.get(p).b64;
  }
  return files;
}

// ---- loading -------------------------------------------------------------------------

async function fetchFiles(commit) {
  if (commit && S.commitFiles.has(commit)) return { commit, files: S.commitFiles.get(commit) };
  const res = await call("GET", "files?commit=" + encodeURIComponent(commit || REF));
  const files = new Map();
  for (const [p, b64] of Object.entries(res.files || {})) files.set(p, decodeFile(b64));
  S.commitFiles.set(res.commit, files);
  return { commit: res.commit, files };
}

async function fetchHead() {
  const log = await call("GET", "log?n=1&from=" + REF);
  return log.length ? log[0] : null;
}

// loadWorkspace loads the base: the commit the pending changes were made on, else the ref.
async function loadWorkspace() {
  const head = await fetchHead();
  S.head = head ? head.id : "";
  S.pending = loadPending();
  let base = S.pending.base || S.head;
  if (!base) {
    S.base = { commit: "", files: new Map() };
    return;
  }
  try {
    S.base = await fetchFiles(base);
  } catch (e) {
    if (!(e instanceof APIError) || e.status !== 404 || !S.head) throw e;
    S.base = await fetchFiles(S.head);
    toast("The commit your edits were based on is gone; they now apply to " + short(S.head), "error");
  }
  S.pending.base = S.base.commit;
  if (Object.keys(S.pending.files).length) savePending();
}

// loadPredeclared fetches the predeclared names once; a fetch that failed is tried again
// the next time completions ask for them (predeclaredNames), not left empty for the page's life.
let predeclaredLoad = null;
function loadPredeclared() {
  predeclaredLoad ??= (async () => {
    try {
      const res = await fetch("predeclared.json", { cache: "no-cache" });
      if (!res.ok) throw new Error(res.statusText);
      S.predeclared = await res.json();
    } catch {
      predeclaredLoad = null;
    }
  })();
  return predeclaredLoad;
}

function predeclaredNames() {
  if (!S.predeclared.length) loadPredeclared();
  return S.predeclared;
}

// ---- session -------------------------------------------------------------------------

async function boot() {
  window.addEventListener("hashchange", route);
  document.addEventListener("keydown", globalKeys);
  loadPredeclared();
  if (localStorage.getItem(loggedInKey)) {
    try {
      const s = await call("GET", "session");
      return startSession(s);
    } catch (e) {
      localStorage.removeItem(loggedInKey);
      return showLogin(e.status === 401 ? "Your session ended; log in again." : e.message);
    }
  }
  showLogin("");
}

function showLogin(message) {
  const input = h("input", { type: "password", id: "token", autocomplete: "current-password", placeholder: "sbt_…", "aria-label": "Token" });
  const err = h("p", { class: "error", id: "login-error" }, message || "");
  const form = h("form", { class: "login", id: "login-form", onsubmit: async (e) => {
    e.preventDefault();
    try {
      const s = await call("POST", "login", { token: input.value.trim() });
      localStorage.setItem(loggedInKey, "1");
      await startSession(s);
    } catch (e2) {
      err.textContent = e2.status === 401 ? "That token is unknown or revoked." : e2.message;
    }
  } },
    h("h1", {}, "Starbase editor"),
    h("label", { for: "token" }, "Log in with a token"), input,
    h("button", { class: "primary", type: "submit", id: "login" }, "Log in"), err,
    h("p", { class: "hint" }, "Create one with: starbase token create NAME --role developer. On the application's origin a web session acts at most as a developer; on the editor's own origin (starbase serve --editor-addr) it has its token's role."));
  $("#app").replaceChildren(form);
  input.focus();
}

async function startSession(s) {
  setCSRF(s.csrf);
  S.session = { name: s.name, role: s.role, origin: s.origin || "app" };
  await loadWorkspace();
  renderShell();
  await route();
  if (canWrite() && Object.keys(S.pending.files).length) scheduleCheck();
}

async function logout() {
  try {
    await call("POST", "logout");
  } catch {}
  localStorage.removeItem(loggedInKey);
  setCSRF("");
  S.session = null;
  S.tabs = [];
  S.active = null;
  view = null;
  showLogin("Logged out. Your unsaved changes stay in this browser.");
}

// ---- shell ---------------------------------------------------------------------------

function renderShell() {
  const write = canWrite();
  const nav = (hash, label, id) => h("a", { href: hash, id, class: "nav" }, label);
  $("#app").replaceChildren(
    h("header", { class: "topbar" },
      h("span", { class: "brand" }, "Starbase"),
      nav("#/", "Files", "nav-files"), nav("#/history", "History", "nav-history"),
      nav("#/errors", "Errors", "nav-errors"), nav("#/status", "Status", "nav-status"),
      h("span", { class: "base", id: "base" }),
      h("span", { class: "changes", id: "changes" }),
      h("span", { class: "spacer" }),
      write ? h("button", { id: "check", title: "Check the pending change (Ctrl+S)", onclick: () => runCheck(true) }, "Check") : null,
      write ? h("button", { id: "commit", class: "primary", title: "Commit (Ctrl+Enter)", onclick: commit }, "Commit") : null,
      h("button", { id: "shortcuts", title: "Keyboard shortcuts (F1)", onclick: showShortcuts }, "?"),
      h("span", { class: "user", id: "user" }, `${S.session.name} (${S.session.role})`),
      h("button", { id: "logout", onclick: logout }, "Log out")),
    h("div", { class: "body" },
      h("aside", { class: "sidebar" },
        h("div", { class: "sidebar-tools" },
          write ? h("button", { id: "new-file", title: "New file", onclick: newFile }, "+ File") : null,
          write ? h("button", { id: "new-folder", title: "New folder", onclick: newFolder }, "+ Folder") : null,
          write ? h("button", { id: "discard-all", title: "Discard every pending change", onclick: discardAll }, "Discard") : null),
        h("div", { id: "browse-banner" }),
        h("ul", { class: "tree", id: "tree" }),
        h("input", { id: "search", type: "search", placeholder: "Search all files (Ctrl+Shift+F)", "aria-label": "Search all files", oninput: searchFiles }),
        h("ul", { class: "results", id: "search-results" })),
      h("main", { class: "main" },
        h("div", { class: "tabs", id: "tabs", role: "tablist" }),
        h("div", { class: "editor", id: "editor" }),
        h("div", { class: "view hidden", id: "view" }),
        h("section", { class: "problems", id: "problems", "aria-label": "Problems" }))),
    h("div", { class: "toast hidden", id: "toast", role: "status" }));
  view = new EditorView({ parent: $("#editor"), state: EditorState.create({ doc: "", extensions: baseExtensions }) });
  renderBase();
  renderTree();
  renderTabs();
  renderProblems();
  renderChangeCount();
}

function renderBase() {
  const el = $("#base");
  if (!el) return;
  const moved = S.head && S.base.commit && S.head !== S.base.commit;
  el.replaceChildren(
    "on ", h("a", { href: "#/diff?to=" + S.base.commit, title: S.base.commit }, short(S.base.commit) || "(empty)"),
    moved ? h("span", { class: "warn", id: "moved" }, ` · ${REF} moved to ${short(S.head)}`) : "");
}

function renderChangeCount() {
  const el = $("#changes");
  if (!el) return;
  const n = Object.keys(S.pending.files).length;
  el.textContent = n ? `● ${n} unsaved change${n > 1 ? "s" : ""}` : "";
  el.title = n ? Object.keys(S.pending.files).sort().join("\n") : "";
}

// showPanel shows the editor (name "editor") or a view, which it returns emptied.
function showPanel(name) {
  const editor = name === "editor";
  $("#editor").classList.toggle("hidden", !editor);
  $("#tabs").classList.toggle("hidden", !editor);
  const v = $("#view");
  v.classList.toggle("hidden", editor);
  for (const a of document.querySelectorAll(".nav")) a.classList.toggle("active", a.getAttribute("href") === "#/" + (name === "editor" ? "" : name));
  if (!editor) v.replaceChildren();
  return v;
}

// ---- file tree -----------------------------------------------------------------------

function treePaths() {
  return S.browse ? [...S.browse.files.keys()].sort() : workingPaths();
}

function renderTree() {
  const ul = $("#tree");
  if (!ul) return;
  const banner = $("#browse-banner");
  banner.replaceChildren(S.browse
    ? h("div", { class: "banner" }, `Commit ${short(S.browse.commit)} (read-only) `, h("a", { href: "#/", onclick: () => { S.browse = null; renderTree(); } }, "back to working tree"))
    : "");
  const root = { dirs: new Map(), files: [] };
  for (const p of treePaths()) {
    const parts = p.split("/");
    let node = root;
    for (const d of parts.slice(0, -1)) {
      if (!node.dirs.has(d)) node.dirs.set(d, { dirs: new Map(), files: [] });
      node = node.dirs.get(d);
    }
    node.files.push(p);
  }
  const write = canWrite() && !S.browse;
  const items = [];
  const walk = (node, prefix, depth) => {
    for (const [name, sub] of [...node.dirs.entries()].sort()) {
      const dir = prefix + name + "/";
      const collapsed = S.collapsed.has(dir);
      items.push(h("li", { class: "dir depth" + Math.min(depth, 8), "data-path": dir },
        h("span", { class: "name", onclick: () => { collapsed ? S.collapsed.delete(dir) : S.collapsed.add(dir); renderTree(); } }, (collapsed ? "▸ " : "▾ ") + name),
        write ? h("span", { class: "actions" },
          h("button", { title: "Rename folder", onclick: () => renamePath(dir) }, "✎"),
          h("button", { title: "Delete folder", onclick: () => deletePath(dir) }, "✕")) : null));
      if (!collapsed) walk(sub, dir, depth + 1);
    }
    for (const p of node.files.sort()) {
      const changed = !S.browse && isPending(p);
      const active = S.active && S.active.path === p && (S.active.commit || null) === (S.browse ? S.browse.commit : null);
      items.push(h("li", { class: "file depth" + Math.min(depth, 8) + (active ? " active" : "") + (changed ? " changed" : ""), "data-path": p },
        h("span", { class: "name", onclick: () => openFile(p, { commit: S.browse ? S.browse.commit : null }) },
          p.slice(prefix.length), changed ? h("span", { class: "marker", title: "unsaved change" }, " ●") : null),
        write ? h("span", { class: "actions" },
          changed ? h("button", { title: "Discard this file's change", onclick: () => discard(p) }, "↺") : null,
          h("button", { title: "Rename", onclick: () => renamePath(p) }, "✎"),
          h("button", { title: "Delete", onclick: () => deletePath(p) }, "✕")) : null));
    }
  };
  walk(root, "", 0);
  if (!S.browse) {
    const deleted = Object.entries(S.pending.files).filter(([, v]) => v === null).map(([p]) => p).sort();
    for (const p of deleted) {
      items.push(h("li", { class: "file deleted", "data-path": p }, h("span", { class: "name" }, p, " (deleted)"),
        write ? h("span", { class: "actions" }, h("button", { title: "Restore", onclick: () => discard(p) }, "↺")) : null));
    }
  }
  if (items.length === 0) items.push(h("li", { class: "empty" }, "No files yet."));
  ul.replaceChildren(...items);
}

function validPath(p) {
  return p && !p.startsWith("/") && !p.endsWith("/") && !p.split("/").some((s) => s === "" || s === "." || s === "..");
}

async function newFile(prefix = "") {
  const p = await dialog({ title: "New file", text: "Path in the tree (folders are made as needed):", value: typeof prefix === "string" ? prefix : "", ok: "Create" });
  if (p == null) return;
  const path = p.trim();
  if (!validPath(path)) return toast(`"${path}" is not a valid path: use names separated by /`, "error");
  if (workingText(path) !== undefined || S.base.files.has(path) && !isPending(path)) return toast(`${path} already exists`, "error");
  setWorking(path, "");
  renderTree();
  openFile(path);
}

async function newFolder() {
  const d = await dialog({ title: "New folder", text: "Folder path (it exists once it holds a file):", value: "", ok: "Next" });
  if (d == null || !d.trim()) return;
  newFile(d.trim().replace(/\/+$/, "") + "/");
}

// renamePath renames a file, or every file of a folder (path ending in /).
async function renamePath(path) {
  const dir = path.endsWith("/");
  const to = await dialog({ title: dir ? "Rename folder" : "Rename file", text: "New path:", value: dir ? path.slice(0, -1) : path, ok: "Rename" });
  if (to == null) return;
  const target = to.trim().replace(/\/+$/, "");
  if (!validPath(target)) return toast(`"${target}" is not a valid path`, "error");
  const moves = dir ? workingPaths().filter((p) => p.startsWith(path)).map((p) => [p, target + "/" + p.slice(path.length)]) : [[path, target]];
  for (const [, b] of moves) if (workingText(b) !== undefined) return toast(`${b} already exists`, "error");
  for (const [a, b] of moves) {
    const text = workingText(a);
    if (text === undefined) return toast(`${a} is binary: rename it with the CLI`, "error");
    setWorking(b, text);
    setWorking(a, null);
    closeTab(a, null);
  }
  renderTree();
  if (!dir) openFile(target);
  scheduleCheck();
}

async function deletePath(path) {
  const dir = path.endsWith("/");
  const paths = dir ? workingPaths().filter((p) => p.startsWith(path)) : [path];
  const ok = await dialog({ title: "Delete", text: `Delete ${dir ? `${paths.length} file(s) in ${path}` : path}? You can restore it until you commit.`, ok: "Delete" });
  if (!ok) return;
  for (const p of paths) {
    setWorking(p, null);
    closeTab(p, null);
  }
  renderTree();
  scheduleCheck();
}

function discard(path) {
  delete S.pending.files[path];
  savePending();
  const tab = S.tabs.find((t) => t.path === path && t.commit === null);
  if (tab) {
    const text = baseText(path);
    if (text === undefined) closeTab(path, null);
    else replaceDoc(tab, text);
  }
  renderTree();
  renderTabs();
  scheduleCheck();
}

async function discardAll() {
  const n = Object.keys(S.pending.files).length;
  if (!n) return toast("No pending change to discard");
  if (!(await dialog({ title: "Discard all changes", text: `Discard ${n} pending change(s)? This cannot be undone.`, ok: "Discard" }))) return;
  for (const p of Object.keys(S.pending.files)) discard(p);
}

// ---- tabs and the editor -------------------------------------------------------------

const tabKey = (path, commit) => (commit || "") + ":" + path;

// A line highlighted on request (a traceback's line).
const flashLine = StateEffect.define();
const flashField = StateField.define({
  create: () => Decoration.none,
  update(deco, tr) {
    deco = deco.map(tr.changes);
    for (const e of tr.effects) if (e.is(flashLine)) deco = Decoration.set([Decoration.line({ class: "cm-target-line" }).range(e.value)]);
    return deco;
  },
  provide: (f) => EditorView.decorations.from(f),
});

function makeState(tab, text) {
  const readOnly = tab.commit !== null || !canWrite();
  const exts = [
    baseExtensions,
    Prec.high(keymap.of(editorKeys)),
    basicSetup,
    languageFor(tab.path),
    lintGutter(),
    flashField,
    EditorView.updateListener.of((u) => onUpdate(tab, u)),
  ];
  if (tab.path.endsWith(".star")) {
    exts.push(pythonLanguage.data.of({
      autocomplete: starlarkCompletions({
        predeclared: predeclaredNames,
        paths: () => treePaths(),
        source: (p) => (tab.commit ? S.commitFiles.get(tab.commit)?.get(p)?.text : workingText(p)),
      }),
    }));
  }
  if (readOnly) exts.push(EditorState.readOnly.of(true), EditorView.editable.of(false));
  return EditorState.create({ doc: text, extensions: exts });
}

function onUpdate(tab, u) {
  if (!u.docChanged || tab.commit !== null || S.active !== tab) return;
  const wasPending = isPending(tab.path);
  setWorking(tab.path, u.state.doc.toString());
  if (wasPending !== isPending(tab.path)) {
    renderTabs();
    renderTree();
  }
  scheduleCheck();
}

function replaceDoc(tab, text) {
  tab.state = makeState(tab, text);
  if (S.active === tab) view.setState(tab.state);
  applyDiagnostics();
}

// openFile opens path (of commit, or of the working tree when commit is null) in a tab and
// puts the cursor on line.
async function openFile(path, { commit = null, line = 0 } = {}) {
  let text;
  if (commit) {
    const got = await fetchFiles(commit);
    const files = got.files;
    commit = got.commit;
    if (commit === S.base.commit && !S.browse) commit = null;
    text = commit ? files.get(path)?.text : workingText(path);
    if (commit && !files.has(path)) return toast(`${path} is not in commit ${short(commit)}`, "error");
  } else {
    text = workingText(path);
  }
  if (text === undefined || text === null) {
    const exists = commit ? true : workingPaths().includes(path);
    return toast(exists ? `${path} is not text; it can only be changed with the CLI` : `No file ${path}`, "error");
  }
  let tab = S.tabs.find((t) => t.key === tabKey(path, commit));
  if (!tab) {
    tab = { key: tabKey(path, commit), path, commit };
    tab.state = makeState(tab, text);
    S.tabs.push(tab);
  }
  activate(tab);
  if (line > 0) gotoLine(line);
  const want = "#/edit/" + encodeURI(path) + (commit ? "?commit=" + commit : "");
  if (location.hash !== want && !location.hash.startsWith(want + (commit ? "&" : "?"))) history.replaceState(null, "", want);
}

function activate(tab) {
  if (S.active && view) S.active.state = view.state;
  S.active = tab;
  showPanel("editor");
  view.setState(tab.state);
  applyDiagnostics();
  renderTabs();
  renderTree();
  view.focus();
}

function gotoLine(n) {
  const doc = view.state.doc;
  const line = doc.line(Math.max(1, Math.min(n, doc.lines)));
  view.dispatch({ selection: { anchor: line.from }, effects: [flashLine.of(line.from), EditorView.scrollIntoView(line.from, { y: "center" })] });
  view.focus();
}

function closeTab(path, commit) {
  const i = S.tabs.findIndex((t) => t.key === tabKey(path, commit));
  if (i < 0) return;
  const [tab] = S.tabs.splice(i, 1);
  if (S.active === tab) {
    S.active = null;
    const next = S.tabs[Math.min(i, S.tabs.length - 1)];
    if (next) activate(next);
    else view.setState(EditorState.create({ doc: "", extensions: baseExtensions }));
  }
  renderTabs();
}

function renderTabs() {
  const el = $("#tabs");
  if (!el) return;
  el.replaceChildren(...S.tabs.map((t) => {
    const changed = t.commit === null && isPending(t.path);
    return h("div", { class: "tab" + (t === S.active ? " active" : "") + (changed ? " changed" : ""), role: "tab", "data-path": t.path, title: t.path + (t.commit ? " @ " + t.commit : "") },
      h("span", { class: "tab-name", onclick: () => activate(t) }, t.path.split("/").pop(), t.commit ? ` @${t.commit.slice(0, 7)}` : "", changed ? h("span", { class: "marker" }, " ●") : null),
      h("button", { class: "tab-close", title: "Close", onclick: () => closeTab(t.path, t.commit) }, "×"));
  }));
}

// ---- check ---------------------------------------------------------------------------

function scheduleCheck() {
  if (!canWrite()) return;
  clearTimeout(checkTimer);
  checkTimer = setTimeout(() => runCheck(false), checkDelay);
}

async function runCheck(explicit) {
  if (!canWrite()) return;
  clearTimeout(checkTimer);
  const seq = ++S.checkSeq;
  S.checking = true;
  renderProblems();
  try {
    const res = await call("POST", "check", { files: workingFiles() });
    if (seq !== S.checkSeq) return;
    S.problems = res.problems;
    S.tests = res.tests;
    S.checkError = "";
  } catch (e) {
    if (seq !== S.checkSeq) return;
    S.checkError = e.message;
  } finally {
    if (seq === S.checkSeq) S.checking = false;
  }
  renderProblems();
  applyDiagnostics();
  if (explicit) toast(S.checkError ? "Check failed: " + S.checkError : S.problems.length ? `${S.problems.length} problem(s)` : "No problems", S.problems.length || S.checkError ? "error" : "ok");
}

// diagnosticsFor turns the problems of path into lint diagnostics on doc.
function diagnosticsFor(doc, path) {
  const out = [];
  for (const p of S.problems) {
    if (p.path !== path) continue;
    const line = doc.line(Math.max(1, Math.min(p.line || 1, doc.lines)));
    let from = p.line ? Math.min(line.from + Math.max(0, (p.col || 1) - 1), line.to) : line.from;
    let to = from;
    while (to < line.to && /\w/.test(doc.sliceString(to, to + 1))) to++;
    if (to === from) [from, to] = [line.from, line.to];
    out.push({ from, to, severity: "error", source: "check", message: p.message });
  }
  return out;
}

function applyDiagnostics() {
  for (const t of S.tabs) {
    if (t.commit !== null) continue;
    const st = t === S.active ? view.state : t.state;
    const tr = setDiagnostics(st, diagnosticsFor(st.doc, t.path));
    if (t === S.active) view.dispatch(tr);
    else t.state = st.update(tr).state;
  }
}

function renderProblems() {
  const el = $("#problems");
  if (!el) return;
  if (!canWrite()) {
    el.replaceChildren(h("div", { class: "problems-head" }, "Read-only: your role is " + S.session.role + "."));
    return;
  }
  const failed = S.tests.filter((t) => !t.passed).length;
  const head = S.checking ? "Checking…" : S.checkError ? "Check failed: " + S.checkError
    : S.problems.length ? `${S.problems.length} problem(s)` : "No problems";
  const tests = S.tests.length ? ` · ${S.tests.length - failed} test(s) passed${failed ? `, ${failed} failed` : ""}` : "";
  el.replaceChildren(
    h("div", { class: "problems-head", id: "problems-head" }, head, tests),
    h("ul", { class: "problem-list" }, S.problems.map((p) => h("li", { class: "problem", "data-path": p.path, "data-line": String(p.line || 0) },
      h("a", { href: "#/edit/" + encodeURI(p.path) + (p.line ? "?line=" + p.line : "") }, `${p.path}${p.line ? `:${p.line}:${p.col}` : ""}`),
      " ", p.message))));
}

// ---- commit and conflicts ------------------------------------------------------------

function defaultMessage() {
  const paths = Object.keys(S.pending.files).sort();
  const verb = (p) => (S.pending.files[p] === null ? "Delete " : S.base.files.has(p) ? "Edit " : "Add ");
  return paths.length === 1 ? verb(paths[0]) + paths[0] : `Change ${paths.length} files: ${paths.slice(0, 4).join(", ")}${paths.length > 4 ? ", …" : ""}`;
}

async function commit() {
  if (!canWrite()) return;
  if (S.active && view) S.active.state = view.state;
  const paths = Object.keys(S.pending.files);
  if (!paths.length) return toast("Nothing to commit: no pending change");
  const marked = paths.filter((p) => S.pending.files[p] !== null && hasConflictMarkers(S.pending.files[p]));
  if (marked.length) return toast(`Resolve the conflict markers in ${marked.join(", ")} first`, "error");
  const head = await fetchHead();
  S.head = head ? head.id : "";
  renderBase();
  if (S.head !== S.base.commit) return showConflict();
  const message = await dialog({ title: `Commit to ${REF}`, text: `On ${short(S.base.commit)}: ${paths.length} changed file(s).`, value: defaultMessage(), ok: "Commit", multiline: true });
  if (message == null) return;
  let res;
  try {
    res = await call("POST", "push", { ref: REF, expected: S.base.commit, message: message.trim(), files: workingFiles() });
  } catch (e) {
    if (e.status === 409) return showConflict();
    if (e.status === 422 && e.data && e.data.problems) {
      S.problems = e.data.problems;
      renderProblems();
      applyDiagnostics();
      return toast("Commit refused: " + e.message, "error");
    }
    return toast("Commit failed: " + e.message, "error");
  }
  await afterCommit(res.commit);
  toast(res.changed ? `Committed ${short(res.commit)}` : "Nothing changed", "ok");
}

// afterCommit makes commit the base, the pending changes having been committed.
async function afterCommit(commitID) {
  S.pending = { base: "", files: {} };
  savePending();
  S.base = await fetchFiles(commitID);
  S.head = commitID;
  S.pending.base = commitID;
  renderBase();
  renderTree();
  renderTabs();
  runCheck(false);
}

async function showConflict() {
  location.hash = "#/conflict";
}

async function renderConflict() {
  const v = showPanel("conflict");
  const head = await fetchHead();
  S.head = head ? head.id : "";
  renderBase();
  if (!S.head || S.head === S.base.commit) {
    v.append(h("p", {}, `${REF} is still at ${short(S.base.commit)}: there is no conflict. `, h("a", { href: "#/" }, "Back to the editor")));
    return;
  }
  const theirs = await fetchFiles(S.head);
  const mine = Object.keys(S.pending.files).sort();
  const theirChanged = new Set([...theirs.files.keys(), ...S.base.files.keys()].filter((p) => theirs.files.get(p)?.b64 !== S.base.files.get(p)?.b64));
  // choices: path -> "mine" | "theirs", the files resolved as a whole; the others are merged.
  const choices = new Map();
  v.append(
    h("h2", {}, "Conflict: " + REF + " moved"),
    h("p", {}, `Your edits are based on ${short(S.base.commit)}; ${REF} is now at ${short(S.head)}`,
      head ? ` (${head.author}: “${head.message}”, ${when(head.time)})` : "",
      ". Nothing was committed and nothing is overwritten: rebase your edits onto the new commit, resolve what both changed, check, and commit again. For a whole file you can take your version or theirs instead of merging."),
    h("div", { class: "conflict-actions" },
      h("button", { class: "primary", id: "rebase", onclick: () => rebase(theirs, choices) }, `Rebase my edits onto ${short(S.head)}`),
      h("a", { href: "#/", class: "button" }, "Keep editing")));
  for (const p of mine) {
    const b = S.base.files.get(p)?.text ?? "";
    const y = S.pending.files[p];
    const t = theirs.files.get(p)?.text;
    const both = theirChanged.has(p);
    const merged = y !== null && t !== undefined ? merge3(b, y, t) : null;
    const choice = h("p", { class: "choice hint" });
    const section = h("section", { class: "conflict-file" + (both ? " both" : ""), "data-path": p },
      h("h3", {}, p, both ? " — changed on both sides" : " — only you changed it"),
      h("div", { class: "take" },
        h("button", { class: "take-mine", title: "Keep your version of the whole file", onclick: () => choose("mine") }, "Take mine"),
        h("button", { class: "take-theirs", title: "Keep their version of the whole file and drop your change to it", onclick: () => choose("theirs") }, "Take theirs"),
        h("button", { class: "take-merge", title: "Merge both changes line by line", onclick: () => choose("") }, "Merge")),
      choice);
    const choose = (side) => {
      if (side) choices.set(p, side);
      else choices.delete(p);
      section.dataset.choice = side || "merge";
      for (const b of section.querySelectorAll(".take button")) b.setAttribute("aria-pressed", String(b.className === "take-" + (side || "merge")));
      choice.textContent = side === "mine" ? (both ? "Rebasing keeps your version of this file: their change to it is dropped." : "Rebasing keeps your version of this file.")
        : side === "theirs" ? "Rebasing keeps their version of this file: your change to it is dropped."
        : both ? "Rebasing merges both changes line by line; where both changed the same lines, the file keeps both between conflict markers." : "Rebasing keeps your change.";
    };
    choose("");
    if (both) {
      section.append(h("div", { class: "three" },
        diffBlock("Their change (" + short(S.head) + ")", b, t ?? "", "theirs"),
        diffBlock("Your change", b, y ?? "", "yours"),
        h("div", { class: "col merged" }, h("h4", {}, merged ? `Three-way merge${merged.conflicts ? ` (${merged.conflicts} conflict(s))` : " (clean)"}` : "Three-way merge"),
          h("pre", { class: "code" }, merged ? merged.text : y === null ? "You deleted this file; they changed it. Rebasing keeps their version." : "They deleted this file; rebasing keeps yours."))));
    } else {
      section.append(diffBlock("Your change", b, y ?? "", "yours"));
    }
    v.append(section);
  }
  const others = [...theirChanged].filter((p) => !isPending(p)).sort();
  if (others.length) v.append(h("p", { class: "hint" }, "They also changed (rebasing takes these as they are): " + others.join(", ")));
}

function diffBlock(title, a, b, cls) {
  const lines = unified(splitLines(a), splitLines(b));
  return h("div", { class: "col " + cls }, h("h4", {}, title),
    h("pre", { class: "code diff" }, lines.length ? lines.map((l) => h("div", { class: "dl " + ({ "+": "add", "-": "del", "@": "hunk", " ": "ctx" })[l.kind] }, (l.kind === "@" ? "" : l.kind + " ") + l.text)) : "(no change)"));
}

// rebase moves the pending changes onto theirs. A file chosen as a whole (choices: path ->
// "mine" or "theirs") keeps that side; every other file is merged three ways (base, yours,
// theirs), and where both changed the same lines it keeps both between conflict markers for
// the user to resolve.
async function rebase(theirs, choices = new Map()) {
  let conflicts = 0;
  const files = {};
  for (const [p, y] of Object.entries(S.pending.files)) {
    const b = S.base.files.get(p)?.text ?? "";
    const t = theirs.files.get(p)?.text;
    const choice = choices.get(p);
    if (choice === "theirs") continue; // no pending change: their version stays
    if (choice === "mine") {
      files[p] = y; // your text, or your deletion
      continue;
    }
    if (y === null) {
      if (t === undefined || t === b) files[p] = null; // delete what they left alone
      continue; // they changed what you deleted: keep theirs
    }
    if (t === undefined) {
      files[p] = y;
      continue;
    }
    const m = merge3(S.base.files.has(p) ? b : "", y, t);
    conflicts += m.conflicts;
    files[p] = m.text;
  }
  S.base = theirs;
  S.pending = { base: theirs.commit, files: {} };
  for (const [p, text] of Object.entries(files)) setWorking(p, text);
  savePending();
  for (const t of S.tabs.filter((t) => t.commit === null)) {
    const text = workingText(t.path);
    if (text === undefined) closeTab(t.path, null);
    else replaceDoc(t, text);
  }
  renderBase();
  renderTree();
  renderTabs();
  location.hash = "#/";
  const first = Object.keys(S.pending.files).find((p) => S.pending.files[p] !== null && hasConflictMarkers(S.pending.files[p]));
  if (first) openFile(first);
  toast(conflicts ? `Rebased onto ${short(theirs.commit)}: resolve ${conflicts} conflict(s), then commit` : `Rebased onto ${short(theirs.commit)}: check and commit`, conflicts ? "error" : "ok");
  runCheck(false);
}

// ---- history, diff, revert -----------------------------------------------------------

async function renderHistory() {
  const v = showPanel("history");
  const log = await call("GET", "log?n=200&from=" + REF);
  let from = log[1] ? log[1].id : "", to = log[0] ? log[0].id : "";
  const compare = h("button", { id: "compare", onclick: () => (location.hash = `#/diff?from=${from}&to=${to}`) }, "Compare selected");
  v.append(h("h2", {}, "History of " + REF),
    h("p", { class: "hint" }, "Pick two commits (old ◉, new ◉) to compare them, or browse any commit's files."), compare,
    h("table", { class: "history", id: "history" },
      h("thead", {}, h("tr", {}, h("th", {}, "old"), h("th", {}, "new"), h("th", {}, "commit"), h("th", {}, "time"), h("th", {}, "author"), h("th", {}, "message"), h("th", {}))),
      h("tbody", {}, log.map((c) => h("tr", { "data-commit": c.id },
        h("td", {}, radio("from", c.id, c.id === from, () => (from = c.id))),
        h("td", {}, radio("to", c.id, c.id === to, () => (to = c.id))),
        h("td", { class: "mono", title: c.id }, short(c.id), c.id === S.base.commit ? " (base)" : ""),
        h("td", {}, when(c.time)), h("td", {}, c.author), h("td", { class: "msg" }, c.message, c.notes ? h("span", { class: "hint" }, " [" + c.notes.join(", ") + "]") : ""),
        h("td", { class: "row-actions" },
          h("a", { href: "#/diff?to=" + c.id, class: "button" }, "Diff"),
          h("a", { href: "#/browse/" + c.id, class: "button" }, "Browse"),
          canWrite() && c.id !== log[0].id ? h("button", { class: "revert", onclick: () => revert(c) }, "Revert to this") : null))))));
}

function radio(name, value, checked, onchange) {
  return h("input", { type: "radio", name, value, checked, onchange, "aria-label": name + " " + short(value) });
}

async function revert(c) {
  const ok = await dialog({ title: "Revert", text: `Make a new commit on ${REF} whose files are those of ${short(c.id)} (“${c.message}”)? History is kept.`, ok: "Revert" });
  if (!ok) return;
  try {
    const res = await call("POST", "revert", { ref: REF, commit: c.id });
    toast(`Reverted: ${REF} is now ${short(res.commit)}`, "ok");
    if (!Object.keys(S.pending.files).length) await afterCommit(res.commit);
    else {
      S.head = res.commit;
      renderBase();
    }
    renderHistory();
  } catch (e) {
    toast("Revert failed: " + e.message, "error");
  }
}

async function renderDiff(params) {
  const v = showPanel("history");
  const from = params.get("from") || "", to = params.get("to") || REF;
  const text = await call("GET", `diff?to=${encodeURIComponent(to)}${from ? "&from=" + encodeURIComponent(from) : ""}`);
  v.append(h("h2", {}, `Diff ${from ? short(from) : "parent"} → ${short(to)}`),
    h("p", {}, h("a", { href: "#/history" }, "← History")),
    h("pre", { class: "code diff", id: "diff" }, typeof text === "string" && text.length ? text.split("\n").map((l) => h("div", {
      class: "dl " + (l.startsWith("+++") || l.startsWith("---") ? "file" : l.startsWith("+") ? "add" : l.startsWith("-") ? "del" : l.startsWith("@@") ? "hunk" : "ctx"),
    }, l)) : "(no difference)"));
}

async function renderBrowse(commit) {
  const { commit: full, files } = await fetchFiles(commit);
  S.browse = { commit: full, files };
  showPanel("editor");
  renderTree();
  toast(`Browsing commit ${short(full)}: open a file from the tree`);
}

// ---- errors and status ---------------------------------------------------------------

async function renderErrors(id) {
  const v = showPanel("errors");
  const input = h("input", { id: "error-id", placeholder: "error id, e.g. 3f9a1c2b7d4e5f60", value: id || "", "aria-label": "Error id" });
  v.append(h("h2", {}, "Errors"),
    h("form", { class: "lookup", onsubmit: (e) => { e.preventDefault(); location.hash = "#/errors/" + encodeURIComponent(input.value.trim()); } },
      input, h("button", { type: "submit", id: "lookup" }, "Look up")));
  if (!canWrite()) return v.append(h("p", {}, "Errors need the developer role."));
  if (id) {
    try {
      const e = await call("GET", "errors/" + encodeURIComponent(id));
      v.append(errorDetail(e));
    } catch (e) {
      v.append(h("p", { class: "error", id: "error-missing" }, e.message));
    }
    return;
  }
  const list = await call("GET", "errors?n=100");
  v.append(h("p", { class: "hint" }, "The most recent errors of this node (each node keeps its own, newest first)."),
    list.length ? h("table", { class: "errors", id: "errors" },
      h("thead", {}, h("tr", {}, h("th", {}, "time"), h("th", {}, "id"), h("th", {}, "request"), h("th", {}, "error"), h("th", {}, "where"))),
      h("tbody", {}, list.map((e) => {
        const top = e.frames[e.frames.length - 1];
        return h("tr", {}, h("td", {}, when(e.time)), h("td", { class: "mono" }, h("a", { href: "#/errors/" + e.id }, e.id)),
          h("td", {}, `${e.method} ${e.path} → ${e.status}`), h("td", {}, e.message),
          h("td", { class: "mono" }, top ? h("a", { href: frameLink(top) }, `${top.path}:${top.line}`) : ""));
      }))) : h("p", {}, "No errors."));
}

const frameLink = (f) => `#/edit/${encodeURI(f.path)}?line=${f.line}${f.commit ? "&commit=" + f.commit : ""}`;

function errorDetail(e) {
  return h("div", { class: "error-detail", id: "error-detail" },
    h("h3", { class: "error" }, e.message),
    h("p", { class: "hint" }, `Error ${e.id} · ${e.method} ${e.path} → ${e.status} · request ${e.request_id} · node ${e.node} · commit ${short(e.commit)} · ${when(e.time)}`),
    h("h4", {}, "Traceback (most recent call last)"),
    h("ol", { class: "frames" }, e.frames.map((f) => h("li", {},
      h("a", { href: frameLink(f), class: "frame-link" }, `${f.path}:${f.line}:${f.col}`), f.function ? ` in ${f.function}` : "",
      f.source ? h("pre", { class: "code" }, f.source) : null))));
}

async function renderStatus() {
  const v = showPanel("status");
  const st = await call("GET", "/-/status");
  v.append(h("h2", {}, "Status"),
    h("table", { class: "status", id: "nodes" },
      h("thead", {}, h("tr", {}, h("th", {}, "node"), h("th", {}, "ref"), h("th", {}, "commit"), h("th", {}, "revision"), h("th", {}, "started"), h("th", {}, "state"))),
      h("tbody", {}, (st.nodes || [st]).map((n) => h("tr", {}, h("td", {}, n.node + (n.node === st.node ? " (this node)" : "")), h("td", {}, n.ref),
        h("td", { class: "mono" }, n.commit ? h("a", { href: "#/browse/" + n.commit }, short(n.commit)) : "—"), h("td", {}, String(n.revision)),
        h("td", {}, when(n.started)), h("td", { class: n.error ? "error" : "" }, n.error || "serving"))))));
  v.append(h("h3", {}, "Recent audit events"));
  if (S.session.role !== "admin") {
    v.append(h("p", { class: "hint", id: "audit-note" }, "Admins only. ",
      S.session.origin === "editor"
        ? `You act as a ${S.session.role}: log in with an admin token to see who changed what.`
        : "On the application's origin a web session acts at most as a developer, since pages developers write run there too. An admin sees the audit log in the editor on its own origin (starbase serve --editor-addr), or with starbase audit."));
    return;
  }
  const audit = await call("GET", "audit?n=50");
  v.append(h("p", { class: "hint" }, "The 50 most recent events, newest first: changes, logins and refused requests."),
    h("table", { class: "status", id: "audit" },
      h("thead", {}, h("tr", {}, h("th", {}, "time"), h("th", {}, "action"), h("th", {}, "actor"), h("th", {}, "ref"), h("th", {}, "commit"), h("th", {}, "detail"))),
      h("tbody", {}, audit.map((a) => h("tr", { "data-action": a.action },
        h("td", {}, when(a.time)), h("td", {}, a.action), h("td", {}, (a.actor || "") + (a.session ? " (session)" : "")), h("td", {}, a.ref || ""),
        h("td", { class: "mono" }, a.commit ? h("a", { href: "#/diff?to=" + a.commit }, short(a.commit)) : ""),
        h("td", {}, a.reason || a.detail || (a.method ? `${a.method} ${a.path}` : "")))))));
}

// ---- search, go to file, go to definition --------------------------------------------

function searchFiles() {
  const q = $("#search").value;
  const out = $("#search-results");
  if (q.length < 2) return out.replaceChildren();
  const results = [];
  const ql = q.toLowerCase();
  for (const p of treePaths()) {
    const text = S.browse ? S.browse.files.get(p)?.text : workingText(p);
    if (text == null) continue;
    const lines = text.split("\n");
    for (let i = 0; i < lines.length && results.length < 200; i++) {
      if (lines[i].toLowerCase().includes(ql)) results.push({ p, line: i + 1, text: lines[i].trim() });
    }
  }
  out.replaceChildren(...results.map((r) => h("li", { onclick: () => openFile(r.p, { commit: S.browse ? S.browse.commit : null, line: r.line }) },
    h("span", { class: "mono" }, `${r.p}:${r.line}`), " ", r.text.slice(0, 120))),
  results.length ? "" : h("li", { class: "hint" }, "No match."));
}

async function gotoFile() {
  const paths = treePaths();
  const input = h("input", { class: "dialog-input", id: "goto-input", placeholder: "file name", "aria-label": "Go to file" });
  const list = h("ul", { class: "goto-list" });
  const close = () => overlay.remove();
  const render = () => {
    const q = input.value.toLowerCase();
    list.replaceChildren(...paths.filter((p) => p.toLowerCase().includes(q)).slice(0, 30).map((p) => h("li", { onclick: () => { close(); openFile(p, { commit: S.browse ? S.browse.commit : null }); } }, p)));
  };
  const overlay = h("div", { class: "overlay", onkeydown: (e) => {
    if (e.key === "Escape") close();
    if (e.key === "Enter") list.firstChild?.click();
  } }, h("div", { class: "dialog" }, h("h2", {}, "Go to file"), input, list));
  input.addEventListener("input", render);
  document.body.append(overlay);
  render();
  input.focus();
}

// gotoDefinition opens the definition of the name under the cursor: in the module it is
// loaded from, or in this module.
function gotoDefinition() {
  const tab = S.active;
  if (!tab || !tab.path.endsWith(".star")) return false;
  const st = view.state;
  const word = st.wordAt(st.selection.main.head);
  if (!word) return false;
  const name = st.sliceDoc(word.from, word.to);
  const src = st.doc.toString();
  const source = (p) => (tab.commit ? S.commitFiles.get(tab.commit)?.get(p)?.text : workingText(p));
  for (const ld of loadsOf(src)) {
    const n = ld.names.find((x) => x.local === name);
    if (!n) continue;
    const target = source(ld.module);
    if (target == null) return toast(`No module ${ld.module}`, "error"), true;
    openFile(ld.module, { commit: tab.commit, line: definitionsOf(target).get(n.remote) || 1 });
    return true;
  }
  const line = definitionsOf(src).get(name);
  if (line) gotoLine(line);
  else toast(`No definition of ${name} found`);
  return true;
}

const editorKeys = [
  { key: "Mod-s", run: () => (runCheck(true), true), preventDefault: true },
  { key: "Mod-Enter", run: () => (commit(), true), preventDefault: true },
  { key: "F12", run: gotoDefinition },
  { key: "Mod-b", run: gotoDefinition },
];

const shortcuts = [
  ["Ctrl+S", "check the pending change (also runs as you type)"],
  ["Ctrl+Enter", "commit"],
  ["Ctrl+P", "go to file"],
  ["Ctrl+Shift+F", "search across all files"],
  ["Ctrl+F", "search in this file (Ctrl+G next, Ctrl+Shift+G previous)"],
  ["F12 or Ctrl+B", "go to the definition of a loaded name"],
  ["Ctrl+Space", "complete: predeclared names, loaded names, load() paths"],
  ["Ctrl+Z / Ctrl+Shift+Z", "undo / redo"],
  ["Ctrl+/", "comment or uncomment lines"],
  ["F1", "this list"],
];

function showShortcuts() {
  dialog({ title: "Keyboard shortcuts", text: "" }).then(() => {});
  const d = document.querySelector(".overlay .dialog");
  d.querySelector("p")?.remove();
  d.insertBefore(h("table", { class: "shortcuts" }, h("tbody", {}, shortcuts.map(([k, what]) => h("tr", {}, h("td", { class: "mono" }, k), h("td", {}, what))))), d.querySelector(".dialog-buttons"));
}

function globalKeys(e) {
  if (!S.session) return;
  const mod = e.ctrlKey || e.metaKey;
  if (e.key === "F1") {
    e.preventDefault();
    if (!document.querySelector(".overlay")) showShortcuts();
  } else if (mod && e.key.toLowerCase() === "p") {
    e.preventDefault();
    gotoFile();
  } else if (mod && e.shiftKey && e.key.toLowerCase() === "f") {
    e.preventDefault();
    $("#search")?.focus();
  } else if (mod && e.key.toLowerCase() === "s" && !e.defaultPrevented) {
    e.preventDefault();
    runCheck(true);
  } else if (mod && e.key === "Enter" && !e.defaultPrevented && !document.querySelector(".overlay")) {
    e.preventDefault();
    commit();
  }
}

// ---- routing -------------------------------------------------------------------------

async function route() {
  if (!S.session) return;
  const hash = location.hash.replace(/^#/, "") || "/";
  const [path, query] = hash.split("?");
  const params = new URLSearchParams(query || "");
  try {
    if (path.startsWith("/edit/")) {
      const file = decodeURI(path.slice("/edit/".length));
      const commit = params.get("commit");
      if (!commit && S.browse) S.browse = null;
      await openFile(file, { commit: commit || null, line: Number(params.get("line")) || 0 });
    } else if (path === "/history") await renderHistory();
    else if (path === "/diff") await renderDiff(params);
    else if (path.startsWith("/browse/")) await renderBrowse(path.slice("/browse/".length));
    else if (path === "/errors") await renderErrors("");
    else if (path.startsWith("/errors/")) await renderErrors(decodeURIComponent(path.slice("/errors/".length)));
    else if (path === "/status") await renderStatus();
    else if (path === "/conflict") await renderConflict();
    else {
      showPanel("editor");
      renderTree();
      if (!S.active) {
        const first = ["app.star", ...workingPaths()].find((p) => workingText(p) != null);
        if (first && !S.browse) openFile(first);
      }
    }
  } catch (e) {
    if (e instanceof APIError && e.status === 401) {
      localStorage.removeItem(loggedInKey);
      return showLogin("Your session ended; log in again.");
    }
    toast(e.message, "error");
  }
}

boot();
