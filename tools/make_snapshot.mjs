// Makes a Pyodide memory snapshot in Node (offline, ~2 s), with the same npm `pyodide` the page
// loads, and the wsclient package imported from /home/pyodide/wsclient/ (where PyScript's [files]
// puts it), plus the stdlib modules PyScript itself imports at boot.
//
//   node tools/make_snapshot.mjs [--repo .] [--src <dir holding wsclient/>] [--out build/snapshot]
//                                [--stdlib-only] [--modules a,b,c]
// (`make setup` runs it; static/pyodide_snapshot.mjs is the page's loader.)
// Writes <out>/pyodide.snapshot (raw), pyodide.snapshot.gz (aiohttp's FileResponse serves it with
// Content-Encoding: gzip), pyodide.snapshot.json (the manifest the page's loader checks).
import { readFileSync, readdirSync, writeFileSync, mkdirSync, renameSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { sourcesKey } from "../static/snapshot_key.mjs";

const HERE = dirname(fileURLToPath(import.meta.url));
const opt = (name, fallback) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const flag = (name) => process.argv.includes(name);
const repo = resolve(opt("--repo", join(HERE, "..")));
const out = resolve(opt("--out", join(repo, "build", "snapshot")));
const withPackage = !flag("--stdlib-only");

const pyodideDir = join(repo, "node_modules/pyodide/");
const { loadPyodide, version } = await import(pathToFileURL(pyodideDir + "pyodide.mjs").href);

// What the page ships: src/wsclient/*.py, the client only (tests/unit/test_layout.py keeps
// pyscript.toml's [files] equal to this list; the demo's own modules are never in the snapshot).
const srcDir = join(resolve(opt("--src", join(repo, "src"))), "wsclient");
const files = readdirSync(srcDir).filter((f) => f.endsWith(".py")).sort();
const sources = files.map((f) => [f, readFileSync(join(srcDir, f))]);

// The package's modules that import without a page (no js.document, no pyscript, no proxies kept
// at import time): all but the browser adapter, which loads from [files] at boot. Tab sharing is
// in: pages share by default (a lone tab too), so it would be compiled at every boot otherwise.
const PAGE_ONLY = new Set(["port", "dom", "bridge", "ui"]);
const PACKAGE = ["wsclient", ...files.map((f) => f.slice(0, -3))
  .filter((m) => m !== "__init__" && !PAGE_ONLY.has(m)).map((m) => `wsclient.${m}`)];
// sys.modules of the booted page minus page-only modules (js, pyodide_js, polyscript, _pyscript,
// pyscript.*, wsclient.*): what PyScript 0.7.31's Python side imports (asyncio, pathlib, zipfile..).
const STDLIB = JSON.parse(readFileSync(join(HERE, "pyscript_stdlib_modules.json"), "utf8"));
const modules = opt("--modules")?.split(",") ?? (withPackage ? [...STDLIB, ...PACKAGE] : STDLIB);

const t0 = performance.now();
// _sysExecutable: in Node, Emscripten's argv[0] (so sys.executable and $_) would be this script's
// path, frozen into the snapshot; the browser's is "./this.program".
const py = await loadPyodide({ indexURL: pyodideDir, _makeSnapshot: true, _sysExecutable: "./this.program" });
if (withPackage) {
  py.FS.mkdirTree("/home/pyodide/wsclient");
  for (const [f, data] of sources) py.FS.writeFile(`/home/pyodide/wsclient/${f}`, data);
}
py.runPython(`
import gc, importlib
failed = []
for name in ${JSON.stringify(modules)}:
    try:
        importlib.import_module(name)
    except Exception as e:
        if name.startswith("wsclient"):
            raise
        failed.append(f"{name}: {e!r}")
if failed:
    print("not preloaded:", *failed, sep=chr(10) + "  ")
gc.collect()
`);
// Throws "Can't serialize object at index N" if Python still holds a JS object that is not a
// path from globalThis (e.g. a module kept a JsProxy of something it created at import).
const snap = py.makeMemorySnapshot();
const header = JSON.parse(new TextDecoder().decode(snap.subarray(48, 48 + new Uint32Array(snap.buffer, 0, 4)[2])));

const manifest = {
  pyodide: version,
  // Pyodide itself refuses a snapshot of another build ("Snapshot build id mismatch").
  build_id: /BUILD_ID:"([0-9a-f]{64})"/.exec(readFileSync(pyodideDir + "pyodide.mjs", "utf8"))[1],
  files: withPackage ? files : [],
  sources: withPackage ? sourcesKey(sources) : null,
  bytes: snap.length,
};
mkdirSync(out, { recursive: true });
// Write next to, then rename: a page never reads a half-written snapshot.
const put = (name, data) => { writeFileSync(join(out, name + ".tmp"), data); renameSync(join(out, name + ".tmp"), join(out, name)); };
const gz = gzipSync(snap, { level: 9 });
put("pyodide.snapshot", snap);
put("pyodide.snapshot.gz", gz);
put("pyodide.snapshot.json", JSON.stringify(manifest, null, 2) + "\n");  // last: it validates the rest
console.log(JSON.stringify({ out, modules: modules.length, files: manifest.files.length, sources: manifest.sources,
  bytes: snap.length, gz: gz.length, hiwire: header, ms: Math.round(performance.now() - t0) }));
