// node --test tests/js: static/wsclient.d.ts matches the runtime face, and TypeScript checks
// against it: a consumer using every method and store passes `tsc --strict`, a typo fails.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

import { createClient } from "../../static/api.js";
import { fakePy } from "./fake_py.mjs";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const TSC = join(ROOT, "node_modules", ".bin", "tsc");


/** The members of `interface <name>` in the d.ts: {methods, stores, others}. */
function declared(name) {
  const source = readFileSync(join(ROOT, "static", "wsclient.d.ts"), "utf8");
  const body = new RegExp(`export interface ${name} \\{\\n([\\s\\S]*?)\\n\\}`).exec(source);
  assert.ok(body, `interface ${name} in wsclient.d.ts`);
  const members = { methods: new Set(), stores: new Set(), others: new Set() };
  for (const line of body[1].split("\n")) {
    const m = /^ {2}(readonly )?(\w+)(\??)([(<:])\s*(\w*)/.exec(line);
    if (!m) continue;
    const kind = m[4] === ":" ? (m[5] === "Readable" ? "stores" : "others") : "methods";
    members[kind].add(m[2]);
  }
  return members;
}

/** The members of a runtime face: functions, stores (objects with subscribe) and others. */
function runtime(face) {
  const members = { methods: new Set(), stores: new Set(), others: new Set() };
  for (const [key, value] of Object.entries(face)) {
    if (typeof value === "function") members.methods.add(key);
    else if (value && typeof value.subscribe === "function") members.stores.add(key);
    else members.others.add(key);
  }
  return members;
}

const sorted = (set) => [...set].sort();

test("the d.ts declares exactly the methods and stores createClient gives window.wsclient", () => {
  const types = declared("WSClient");
  const face = runtime(createClient(fakePy()));
  assert.deepEqual(sorted(face.methods), sorted(types.methods), "methods");
  assert.deepEqual(sorted(face.stores), sorted(types.stores), "stores");
  assert.deepEqual(sorted(face.others), sorted(types.others), "other members");
  const debug = declared("WSClientDebug");
  assert.deepEqual(sorted(runtime(createClient(fakePy()).debug).methods), sorted(debug.methods));
});

test("the d.ts's StoreName lists the stores Python offers", () => {
  const source = readFileSync(join(ROOT, "static", "wsclient.d.ts"), "utf8");
  const union = /export type StoreName =([^;]*);/.exec(source)[1];
  const names = [...union.matchAll(/"(\w+)"/g)].map((m) => m[1]);
  assert.deepEqual(sorted(names), sorted(runtime(createClient(fakePy())).stores));
});

/** Run tsc with `args`; returns [exit status, output]. */
function tsc(args) {
  try {
    return [0, execFileSync(TSC, args, { cwd: ROOT, encoding: "utf8" })];
  } catch (err) {
    return [err.status, `${err.stdout}${err.stderr}`];
  }
}

const STRICT = ["--noEmit", "--strict", "--target", "ES2022", "--module", "ESNext"];
const STRICT_FILE = [...STRICT, "--moduleResolution", "bundler", "--lib", "ES2022,DOM"];

test("tsc --strict accepts the consumer that uses every method and store", () => {
  const [status, output] = tsc(["-p", "tsconfig.json"]);
  assert.equal(status, 0, output);
});

test("tsc --strict fails on a typo in a typed listener (on('file.uploaded') gives a FileEvent)", () => {
  const dir = mkdtempSync(join(tmpdir(), "wsclient-ts-"));
  try {
    const file = join(dir, "broken.ts");
    writeFileSync(
      file,
      `import type { WSClient } from ${JSON.stringify(join(ROOT, "static", "wsclient.js"))};\n` +
        "declare const ws: WSClient;\n" +
        'ws.on("file.uploaded", (e) => e.file.nmae);\n',
    );
    const [status, output] = tsc([...STRICT_FILE, file]);
    assert.notEqual(status, 0);
    assert.match(output, /broken\.ts\(3,38\): error TS2339: Property 'nmae' does not exist on type 'FileInfo'/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
