// PyScript `interpreter` module (pyscript.toml): Pyodide, booted from a memory snapshot that has
// the wsclient package and PyScript's stdlib already imported (build/snapshot/, made by
// `make setup` with tools/make_snapshot.mjs) when that snapshot is already in the page's Cache
// Storage; otherwise booted normally, after which (once connected and idle) the snapshot is
// fetched in the background and kept there for the next visit.
//
// Why Cache Storage and not the HTTP cache: the snapshot (6.5 MB gzipped, 30 MiB) sits right at
// the largest entry Chromium's in-memory HTTP cache keeps (1/8 of 50 MiB, in private windows),
// so whether it was cached there depended on a few KB of its compressed size.
// Why only from the cache: the snapshot is a download of its own. On a repeat
// visit it turns ~2 s of Python initialisation into ~0.15 s; on a first visit over a slow link
// its download would cost as much as it saves (bench/startup.py measures both), so a first visit
// boots exactly like a plain Pyodide page.
//
// A snapshot that is missing, made from other sources (stale), for another Pyodide version or
// build, or broken, is never used: the page boots normally. `globalThis.wsclientBoot` records
// what happened ({snapshot: "used" | "not cached" | "<why not>"}), for tests and curious users.
//
// polyscript imports this module and calls `loadPyodide({stdout, stderr, indexURL})`, reading
// `version`; [files], [js_modules], the pyscript module and the page's own script all run after
// we return.
import { loadPyodide as stockLoadPyodide, version } from "../node_modules/pyodide/pyodide.mjs";
import { sourcesKey } from "./snapshot_key.mjs";

export { version };

const INDEX_URL = new URL("../node_modules/pyodide/", import.meta.url).href;
const SNAPSHOT = new URL("../build/snapshot/pyodide.snapshot", import.meta.url);
const MANIFEST = new URL("../build/snapshot/pyodide.snapshot.json", import.meta.url);
const SOURCES = new URL("../src/wsclient/", import.meta.url); // what pyscript.toml [files] ships
const CACHE = "wsclient-snapshot"; // the Cache Storage bucket holding the one snapshot
const SOURCES_HEADER = "x-wsclient-sources"; // the sources key the cached snapshot was made from

const boot = (globalThis.wsclientBoot = { snapshot: "pending" });

const ok = (response) => {
  if (!response.ok) throw new Error(`${response.url}: HTTP ${response.status}`);
  return response;
};

// The manifest and the sources are revalidated with the server (304s when unchanged): a snapshot
// made from older sources than the server now has must not be used.
const fresh = (url) => fetch(url, { cache: "no-cache" }).then(ok);

/** The manifest, if the snapshot it describes fits this page (same Pyodide, same sources);
 * rejects saying why not. */
export async function fittingManifest() {
  const manifest = await fresh(MANIFEST).then((r) => r.json());
  if (manifest.pyodide !== version) {
    throw new Error(`snapshot made with Pyodide ${manifest.pyodide}, the page has ${version}`);
  }
  const files = await Promise.all(
    manifest.files.map(async (name) => [
      name,
      new Uint8Array(await fresh(new URL(name, SOURCES)).then((r) => r.arrayBuffer())),
    ]),
  );
  const key = sourcesKey(files);
  if (manifest.files.length && key !== manifest.sources) {
    throw new Error(`stale snapshot: the sources are ${key}, it was made from ${manifest.sources}`);
  }
  return manifest;
}

/** The snapshot's bytes from Cache Storage only (a first visit learns that at once, without
 * asking the server for it); null when it is not cached; rejects when it is cached but does
 * not fit (other Pyodide, or made from other sources than the server has now). */
async function cachedSnapshot() {
  if (!globalThis.caches) return null; // not a secure context: no Cache Storage
  const response = await (await caches.open(CACHE)).match(SNAPSHOT.href);
  if (!response) return null;
  const bytes = response.arrayBuffer();
  const manifest = await fittingManifest();
  const made = response.headers.get(SOURCES_HEADER);
  if (made !== manifest.sources) {
    throw new Error(`stale snapshot: cached from ${made}, the sources are ${manifest.sources}`);
  }
  return bytes;
}

/** After a normal boot: put the snapshot in the cache for the next visit, if it fits. It waits
 * until the client is connected and the page is idle, so that on a slow link its download never
 * competes with what the page needs first. */
function prefetchForNextVisit() {
  let started = false;
  const fetchIt = async () => {
    try {
      const manifest = await fittingManifest();
      const body = await fresh(SNAPSHOT).then((r) => r.arrayBuffer());
      const headers = { "content-type": "application/octet-stream", [SOURCES_HEADER]: manifest.sources };
      await (await caches.open(CACHE)).put(SNAPSHOT.href, new Response(body, { headers }));
      boot.prefetched = true;
    } catch (error) {
      boot.prefetched = String(error?.message ?? error);
    }
  };
  const whenIdle = (fn) =>
    globalThis.requestIdleCallback ? requestIdleCallback(fn, { timeout: 5000 }) : setTimeout(fn, 1000);
  addEventListener(
    "wsclient:ready",
    () => {
      const off = globalThis.wsclient.state.subscribe(({ status }) => {
        if (status !== "connected" || started) return;
        started = true;
        queueMicrotask(() => off?.());
        whenIdle(fetchIt);
      });
    },
    { once: true },
  );
}

export async function loadPyodide(options = {}) {
  const config = { ...options, indexURL: INDEX_URL };
  let snapshot = null;
  try {
    snapshot = await cachedSnapshot();
    if (snapshot === null) boot.snapshot = "not cached";
  } catch (error) {
    boot.snapshot = String(error?.message ?? error);
  }
  if (snapshot) {
    try {
      const pyodide = await stockLoadPyodide({ ...config, _loadSnapshot: snapshot });
      // The snapshot froze random's state: reseed, or every page would draw the same backoff
      // jitter and the same outbox id prefix.
      pyodide.runPython("import random; random.seed()");
      // Pyodide keeps its config, and with it the 31.5 MB snapshot, for the page's lifetime.
      delete pyodide._api?.config?._loadSnapshot;
      boot.snapshot = "used";
      return pyodide;
    } catch (error) {
      // e.g. "Snapshot build id mismatch": another Pyodide build with the same version number.
      boot.snapshot = String(error?.message ?? error);
      console.info("[wsclient] booting without the snapshot:", boot.snapshot);
    }
  }
  const pyodide = await stockLoadPyodide(config);
  prefetchForNextVisit();
  return pyodide;
}
