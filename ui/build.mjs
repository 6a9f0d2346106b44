// Builds the editor into dist/: the page, its style sheet and one script bundling
// src/main.js with CodeMirror. The output depends only on src/ and the pinned packages
// (package-lock.json), so test.sh can rebuild it and compare it with the committed dist/.
import * as esbuild from "esbuild";
import { copyFileSync, mkdirSync, rmSync } from "node:fs";

rmSync("dist", { recursive: true, force: true });
mkdirSync("dist");
await esbuild.build({
  entryPoints: ["src/main.js"],
  bundle: true,
  minify: true,
  format: "iife",
  target: ["es2020"],
  charset: "utf8",
  legalComments: "eof",
  outfile: "dist/editor.js",
  logLevel: "warning",
});
for (const f of ["index.html", "editor.css"]) copyFileSync("src/" + f, "dist/" + f);
