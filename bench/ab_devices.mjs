// Runs bench/ab_devices.py in real Pyodide (the npm `pyodide` the page loads, here in Node), with
// the wsclient package from src/ where PyScript's [files] puts it, as tools/make_snapshot.mjs does.
//
//   node bench/ab_devices.mjs [--rounds 9] [--src <dir holding wsclient/>]
//
// records.py is read from the tree, or, once it is gone, from the last commit that had it (so
// the records comparison can be repeated after the replacement).
import { readFileSync, readdirSync, existsSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const HERE = dirname(fileURLToPath(import.meta.url));
const repo = resolve(HERE, "..");
const opt = (name, fallback) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const srcDir = join(resolve(opt("--src", join(repo, "src"))), "wsclient");
const rounds = opt("--rounds", "9");

const pyodideDir = join(repo, "node_modules/pyodide/");
const { loadPyodide } = await import(pathToFileURL(pyodideDir + "pyodide.mjs").href);
const py = await loadPyodide({ indexURL: pyodideDir });
const target = "/home/pyodide/wsclient";
py.FS.mkdirTree(target);
for (const f of readdirSync(srcDir).filter((f) => f.endsWith(".py"))) {
  py.FS.writeFile(`${target}/${f}`, readFileSync(join(srcDir, f)));
}
if (!existsSync(join(srcDir, "records.py"))) {
  const rev = execFileSync("git", ["rev-list", "-1", "HEAD", "--", "src/wsclient/records.py"], { cwd: repo })
    .toString().trim();
  const text = execFileSync("git", ["show", `${rev}~1:src/wsclient/records.py`], { cwd: repo });
  py.FS.writeFile(`${target}/records.py`, text);
}
py.FS.writeFile("/home/pyodide/ab_devices.py", readFileSync(join(HERE, "ab_devices.py")));
py.setStdout({ batched: (line) => console.log(line) });
py.setStderr({ batched: (line) => console.error(line) });
py.runPython(`
import sys, runpy
sys.path.insert(0, "/home/pyodide")
sys.argv = ["ab_devices.py", "--rounds", ${JSON.stringify(rounds)}, "--src", ${JSON.stringify(target)}]
runpy.run_path("/home/pyodide/ab_devices.py", run_name="__main__")
`);
