// A fake of the bridge src/wsclient/bridge.py builds, for the tests of static/api.js.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

/** The stores src/wsclient/bridge.py offers (the keys of its `stores` table, read from it). */
export const PYTHON_STORES = (() => {
  const source = readFileSync(new URL("../../src/wsclient/bridge.py", import.meta.url), "utf8");
  const table = /stores: dict\[[^\n]*\] = \{\n([\s\S]*?)\n    \}/.exec(source);
  assert.ok(table, "bridge.py's stores table");
  return [...table[1].matchAll(/^ {8}"(\w+)":/gm)].map((m) => m[1]);
})();

/** The limits the bridge hands over, as Python's defaults make them. */
const LIMITS = { maxDepth: 512, maxQueueBytes: 8 << 20 };

/** A fake of the bridge src/wsclient/bridge.py builds: records calls, answers like Python. */
export function fakePy(overrides = {}, limits = {}) {
  const calls = [];
  const subscribers = new Map(); // store name -> Set of run functions
  const listeners = [];
  const watchers = new Map();
  const errors = [];
  let nextId = 0;
  const py = {
    calls,
    errors,
    listeners,
    subscribers,
    watchers,
    send: (text) => calls.push(["send", text]),
    request(text, timeout) {
      calls.push(["request", text, timeout]);
      return `r${++nextId}`;
    },
    watch(id, settle) {
      if (!id.startsWith("r")) return `no request ${JSON.stringify(id)} is pending (fake)`;
      watchers.set(id, settle);
      return null;
    },
    pending: () => "[]",
    subscribe_project: (id) => calls.push(["subscribe", id]),
    unsubscribe_project(id) {
      if (id === "alpha") return;
      const err = new Error(`Traceback ...\nValueError: not subscribed to ${JSON.stringify(id)} (fake)`);
      err.name = "PythonError";
      throw err;
    },
    on(type, listener) {
      listeners.push([type, listener]);
      let removed = 0;
      return () => {
        removed += 1;
        if (removed > 1) throw new Error("a Python once-callable called twice");
        listeners.splice(listeners.findIndex(([, l]) => l === listener), 1);
      };
    },
    subscribe(name, run, invalidate) {
      calls.push(["store", name, typeof invalidate]);
      if (!subscribers.has(name)) subscribers.set(name, new Set());
      subscribers.get(name).add(run);
      run(JSON.stringify({ status: "connected" }));
      let removed = 0;
      return () => {
        removed += 1;
        if (removed > 1) throw new Error("a Python once-callable called twice");
        subscribers.get(name).delete(run);
      };
    },
    connect: () => calls.push(["connect"]),
    disconnect: () => calls.push(["disconnect"]),
    mountStatus: () => () => {},
    countError: (where, text, stack, key) => errors.push({ where, text, stack, key }),
    callbackErrors: () => JSON.stringify({ count: errors.length, last: null }),
    liveProxies: () => 7,
    subscriberCount: () => 2,
    limits: () => JSON.stringify({ ...LIMITS, ...limits }),
    storeNames: () => JSON.stringify(PYTHON_STORES),
    tooLarge: (size) =>
      `a message of ${size} bytes is larger than max_queue_bytes (${limits.maxQueueBytes}): ` +
      "send it in parts, or raise max_queue_bytes",
    ...overrides,
  };
  return py;
}
