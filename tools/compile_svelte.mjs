// Compile svelte/*.svelte with the real Svelte 5 compiler into ES modules in build/svelte/, check
// that the page's import map (svelte.html) resolves every bare import those modules reach, then
// bundle the page's entry (svelte/main.js, the components, $stores/websocket and Svelte's
// runtime) into one module, build/svelte/main.js, with esbuild: unbundled, the browser fetches
// ~110 modules, six at a time, and the components appeared 470-830 ms after navigation; bundled,
// svelte.html shows its status within 300 ms (tests/e2e/test_svelte.py). The import map stays for
// whatever else the page imports (`$stores/websocket`, `svelte/store`).
//
//   node tools/compile_svelte.mjs          (make setup runs it when an input changed)
//
// Offline: it reads only the local tree. Exit status 1 on a compile error or an unmapped import.
import { readFileSync, writeFileSync, mkdirSync, readdirSync, existsSync, rmSync } from "node:fs";
import { dirname, join, relative, resolve, basename } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { compile, VERSION } from "svelte/compiler";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const SRC = join(ROOT, "svelte");
const OUT = join(ROOT, "build", "svelte");
const PAGE = join(ROOT, "svelte.html");

const started = performance.now();
rmSync(OUT, { recursive: true, force: true });
mkdirSync(OUT, { recursive: true });

const outputs = [];
for (const name of readdirSync(SRC).filter((f) => f.endsWith(".svelte")).sort()) {
  const filename = join(SRC, name);
  const source = readFileSync(filename, "utf8");
  let result;
  try {
    result = compile(source, {
      filename: relative(ROOT, filename),
      generate: "client",
      css: "injected", // the component adds its own scoped <style>: one file per component
      dev: false,
    });
  } catch (err) {
    console.error(`${relative(ROOT, filename)}: ${err.message}`);
    process.exit(1);
  }
  for (const w of result.warnings) console.warn(`${relative(ROOT, filename)}: warning: ${w.message}`);
  const out = join(OUT, basename(name, ".svelte") + ".js");
  writeFileSync(out, result.js.code);
  outputs.push(out);
}

// --- the import map check ------------------------------------------------------------------
// Every module the page can load (the compiled components, svelte/*.js and what they import) is
// scanned for import specifiers; each bare one must be in the page's import map, and the file it
// maps to is scanned in turn. Static and dynamic imports with a literal specifier are found.

const html = readFileSync(PAGE, "utf8");
const mapText = /<script type="importmap">([\s\S]*?)<\/script>/.exec(html);
if (!mapText) {
  console.error("svelte.html has no <script type=\"importmap\">");
  process.exit(1);
}
const imports = JSON.parse(mapText[1]).imports;
const pageDir = dirname(PAGE);

const SPECIFIER =
  /(?:^|[\s;})])(?:import|export)\s*(?:[\w*{}\s,$]*?\sfrom\s*)?["']([^"']+)["']|\bimport\(\s*["']([^"']+)["']\s*\)/g;

function specifiers(file) {
  const code = readFileSync(file, "utf8").replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
  return [...code.matchAll(SPECIFIER)].map((m) => m[1] ?? m[2]);
}

function mapped(spec) {
  if (spec in imports) return imports[spec];
  // prefix entries ("svelte/": "./node_modules/svelte/src/") as the browser applies them
  const prefix = Object.keys(imports)
    .filter((k) => k.endsWith("/") && spec.startsWith(k))
    .sort((a, b) => b.length - a.length)[0];
  return prefix === undefined ? undefined : imports[prefix] + spec.slice(prefix.length);
}

const missing = new Map();
const seen = new Set();
const queue = [...outputs, ...readdirSync(SRC).filter((f) => f.endsWith(".js")).map((f) => join(SRC, f))];
while (queue.length) {
  const file = queue.pop();
  if (seen.has(file)) continue;
  seen.add(file);
  for (const spec of specifiers(file)) {
    let target;
    if (spec.startsWith("./") || spec.startsWith("../")) {
      target = resolve(dirname(file), spec);
    } else if (spec.startsWith("/")) {
      target = join(ROOT, spec);
    } else {
      const url = mapped(spec);
      if (url === undefined) {
        if (!missing.has(spec)) missing.set(spec, relative(ROOT, file));
        continue;
      }
      target = resolve(pageDir, url);
    }
    if (!existsSync(target)) {
      console.error(`${relative(ROOT, file)} imports ${spec} -> ${relative(ROOT, target)}: no such file`);
      process.exit(1);
    }
    queue.push(target);
  }
}
if (missing.size) {
  for (const [spec, from] of missing) console.error(`svelte.html's import map lacks "${spec}" (imported by ${from})`);
  process.exit(1);
}

// --- the page's bundle ----------------------------------------------------------------------
// One module instance of $stores/websocket per page matters only for its early-call queue; a
// module that imports "$stores/websocket" through the map gets its own queue, flushed after the
// bundle's (in the order the modules loaded), so every call still runs once and in order.
const bundled = await build({
  entryPoints: [join(SRC, "main.js")],
  outfile: join(OUT, "main.js"),
  bundle: true,
  format: "esm",
  platform: "browser",
  target: "es2022",
  conditions: ["browser"],
  alias: { "$stores/websocket": join(SRC, "lib", "stores", "websocket.js") },
  logLevel: "warning",
  metafile: true,
});
const bundledModules = Object.keys(bundled.metafile.inputs).length;

const ms = Math.round(performance.now() - started);
console.log(
  `svelte ${VERSION}: compiled ${outputs.length} components into ${relative(ROOT, OUT)}/ ` +
    `(${seen.size} modules reachable, all mapped), bundled ${bundledModules} modules into ` +
    `${relative(ROOT, join(OUT, "main.js"))} in ${ms} ms`,
);
