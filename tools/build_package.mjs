// Builds build/wsclient.zip, the package the page loads: src/wsclient's sources plus their
// bytecode, compiled by the page's own Pyodide (same Python, same magic number). The page does not
// unpack the zip: `src/main.py` puts it on sys.path and Python imports straight from it
// (zipimport), so start-up pays neither the unpacking (~40 ms) nor compiling (~100 ms). zipimport
// wants each module's bytecode next to its source (`wsclient/core.pyc`, not `__pycache__`).
// Run by `make setup`; the e2e tests rebuild it when it is stale. Usage: node tools/build_package.mjs
import fs from "node:fs";
import path from "node:path";
import url from "node:url";

const root = path.resolve(path.dirname(url.fileURLToPath(import.meta.url)), "..");
const { loadPyodide } = await import(path.join(root, "node_modules", "pyodide", "pyodide.mjs"));
const source = path.join(root, "src", "wsclient");
const target = path.join(root, "build", "wsclient.zip");

const py = await loadPyodide();
py.FS.mkdirTree("/build/wsclient");
for (const name of fs.readdirSync(source).filter((f) => f.endsWith(".py")).sort()) {
  py.FS.writeFile(`/build/wsclient/${name}`, fs.readFileSync(path.join(source, name)));
}
py.runPython(`
import os, py_compile, zipfile

# Unchecked-hash pycs: the zip is built from these exact sources, so the browser need not re-read
# them to validate; tracebacks still show source lines (zipimport reads the .py beside the .pyc).
with zipfile.ZipFile("/build/wsclient.zip", "w", zipfile.ZIP_DEFLATED) as archive:
    for name in sorted(n for n in os.listdir("/build/wsclient") if n.endswith(".py")):
        source = f"/build/wsclient/{name}"
        py_compile.compile(
            source, cfile=f"{source}c", dfile=f"/home/pyodide/wsclient.zip/wsclient/{name}",
            doraise=True, invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
        )
        archive.write(source, f"wsclient/{name}")
        archive.write(f"{source}c", f"wsclient/{name}c")
`);
fs.mkdirSync(path.dirname(target), { recursive: true });
fs.writeFileSync(target, py.FS.readFile("/build/wsclient.zip"));
console.log(`built ${path.relative(root, target)}`);
