// Builds build/wsclient.zip, the package the page loads: src/wsclient's sources plus their
// bytecode, compiled by the page's own Pyodide (same Python, same magic number), so the browser
// imports without compiling (~100 ms of start-up). Run by `make setup`; the e2e tests rebuild it
// when it is stale. Usage: node tools/build_package.mjs
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
import compileall, os, py_compile, zipfile

# Unchecked-hash pycs: the zip is built from these exact sources, so the browser need not re-read
# them to validate; tracebacks still show source lines (the .py files ship alongside).
ok = compileall.compile_dir(
    "/build/wsclient", quiet=1, ddir="/home/pyodide/wsclient",
    invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
)
if not ok:
    raise SystemExit("compiling src/wsclient failed")
with zipfile.ZipFile("/build/wsclient.zip", "w", zipfile.ZIP_DEFLATED) as archive:
    for folder, _, files in sorted(os.walk("/build/wsclient")):
        for name in sorted(files):
            full = os.path.join(folder, name)
            archive.write(full, os.path.relpath(full, "/build"))
`);
fs.mkdirSync(path.dirname(target), { recursive: true });
fs.writeFileSync(target, py.FS.readFile("/build/wsclient.zip"));
console.log(`built ${path.relative(root, target)}`);
