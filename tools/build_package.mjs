// Builds what the page loads, with the page's own Pyodide (same Python, same bytecode magic):
// - build/wsclient.bundle: every module of src/wsclient as bytecode, plus its source for
//   tracebacks (the format is src/bundleimport.py's);
// - build/bundleimport.pyc: the importer itself, compiled, so the page compiles no source of ours.
// src/main.py installs the importer, so start-up pays neither unpacking (~40 ms) nor compiling
// (~100 ms) nor zipimport. Run by `make setup`; the e2e tests rebuild both when stale.
// Usage: node tools/build_package.mjs
import fs from "node:fs";
import path from "node:path";
import url from "node:url";

const root = path.resolve(path.dirname(url.fileURLToPath(import.meta.url)), "..");
const { loadPyodide } = await import(path.join(root, "node_modules", "pyodide", "pyodide.mjs"));
const source = path.join(root, "src", "wsclient");
const target = path.join(root, "build");

const py = await loadPyodide();
py.FS.mkdirTree("/build/wsclient");
py.FS.writeFile("/build/bundleimport.py", fs.readFileSync(path.join(root, "src", "bundleimport.py")));
for (const name of fs.readdirSync(source).filter((f) => f.endsWith(".py")).sort()) {
  py.FS.writeFile(`/build/wsclient/${name}`, fs.readFileSync(path.join(source, name)));
}
py.runPython(`
import sys
sys.path.insert(0, "/build")
import py_compile
import bundleimport

with open("/build/wsclient.bundle", "wb") as out:
    out.write(bundleimport.build("/build/wsclient", "wsclient", "src/wsclient"))
# Unchecked hash: found without its source (a sourceless .pyc), never revalidated; the hash in
# its header still lets tests/packaging.py tell whether it matches src/bundleimport.py.
py_compile.compile(
    "/build/bundleimport.py", cfile="/build/bundleimport.pyc", dfile="src/bundleimport.py",
    doraise=True, invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
)
`);
fs.mkdirSync(target, { recursive: true });
for (const name of ["wsclient.bundle", "bundleimport.pyc"]) {
  fs.writeFileSync(path.join(target, name), py.FS.readFile(`/build/${name}`));
  console.log(`built build/${name}`);
}
