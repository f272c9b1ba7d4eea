// node --test tests/js: static/tabs.js with fake Web Locks, BroadcastChannel and localStorage.
import assert from "node:assert/strict";
import { test } from "node:test";

import { createTabs, sharingSupported } from "../../static/tabs.js";

// One turn of the event loop: every queued microtask and lock grant has run (no sleep).
const settle = () => new Promise((resolve) => setImmediate(resolve));

/** One browser: its lock manager and channels, shared by the tabs made with `tab()`. */
function fakeBrowser() {
  const holders = new Map(); // name -> holder record
  const queues = new Map(); // name -> waiting requests
  const channels = new Set();
  const storage = new Map();

  const grant = (name, req) => {
    holders.set(name, req);
    Promise.resolve(req.callback({ name })).then(() => {
      holders.delete(name);
      const queue = queues.get(name) ?? [];
      const next = queue.shift();
      if (next) grant(name, next);
    });
    req.resolve();
  };

  const locksOf = (owner) => ({
    request(name, options, callback) {
      return new Promise((resolve, reject) => {
        const req = { owner, callback, resolve, reject };
        if (!holders.has(name)) {
          grant(name, req);
        } else if (options.ifAvailable) {
          Promise.resolve(callback(null)).then(resolve);
        } else {
          const queue = queues.get(name) ?? [];
          queue.push(req);
          queues.set(name, queue);
          options.signal?.addEventListener("abort", () => {
            queue.splice(queue.indexOf(req), 1);
            const error = new Error("aborted");
            error.name = "AbortError";
            reject(error);
          });
        }
      });
    },
  });

  class FakeChannel {
    constructor(name) {
      this.name = name;
      this.onmessage = null;
      channels.add(this);
    }
    postMessage(data) {
      const copy = structuredClone(data);
      for (const other of channels) {
        if (other !== this && other.name === this.name) {
          queueMicrotask(() => other.onmessage?.({ data: structuredClone(copy) }));
        }
      }
    }
    close() {
      channels.delete(this);
    }
  }

  const localStorage = {
    getItem: (k) => (storage.has(k) ? storage.get(k) : null),
    setItem: (k, v) => storage.set(k, String(v)),
  };

  const tab = (id) => {
    const listeners = new Map();
    const env = {
      navigator: { locks: locksOf(id) },
      BroadcastChannel: FakeChannel,
      AbortController,
      localStorage,
      addEventListener: (type, fn) => listeners.set(type, fn),
      removeEventListener: (type) => listeners.delete(type),
      document: {
        addEventListener: (type, fn) => listeners.set(type, fn),
        removeEventListener: (type) => listeners.delete(type),
      },
    };
    const seen = { granted: [], messages: [], sleeps: 0, wakes: 0, unloads: 0 };
    const hooks = {
      granted: (term) => seen.granted.push(term),
      message: (m) => seen.messages.push(m),
      sleep: () => seen.sleeps++,
      wake: () => seen.wakes++,
      unload: () => seen.unloads++,
    };
    const tabs = createTabs("ws://server/ws", id, hooks, env);
    const fire = (type, event = {}) => listeners.get(type)?.(event);
    return { tabs, seen, fire, listeners };
  };
  return { tab, holders, storage };
}

test("without navigator.locks or BroadcastChannel a tab is alone", () => {
  assert.equal(sharingSupported({ navigator: {}, BroadcastChannel: class {} }), false);
  assert.equal(sharingSupported({ navigator: { locks: { request() {} } } }), false);
  assert.equal(
    sharingSupported({ navigator: { locks: { request() {} } }, BroadcastChannel: class {} }),
    true,
  );
  assert.throws(() => createTabs("u", "a", {}, { navigator: {} }), /sharingSupported/);
});

test("the first tab to ask leads; the next one leads when it releases", async () => {
  const browser = fakeBrowser();
  const a = browser.tab("a");
  const b = browser.tab("b");
  a.tabs.requestLeader();
  b.tabs.requestLeader();
  await settle();
  assert.deepEqual([a.seen.granted, b.seen.granted], [[0], []]);
  a.tabs.storeTerm(1);
  a.tabs.releaseLeader();
  await settle();
  assert.deepEqual(b.seen.granted, [1], "the new leader reads the stored term");
});

test("a request still waiting is withdrawn by releaseLeader", async () => {
  const browser = fakeBrowser();
  const a = browser.tab("a");
  const b = browser.tab("b");
  a.tabs.requestLeader();
  b.tabs.requestLeader();
  await settle();
  b.tabs.releaseLeader();
  a.tabs.releaseLeader();
  await settle();
  assert.deepEqual(b.seen.granted, [], "b stepped out: it is never granted the lock");
  assert.equal(browser.holders.has("wsclient:ws://server/ws"), false);
});

test("posts reach every other tab of the URL, as copies, never the sender", async () => {
  const browser = fakeBrowser();
  const a = browser.tab("a");
  const b = browser.tab("b");
  const c = browser.tab("c");
  const message = { k: "who", from: "a" };
  a.tabs.post(message);
  await settle();
  assert.deepEqual(a.seen.messages, []);
  assert.deepEqual(b.seen.messages, [message]);
  assert.deepEqual(c.seen.messages, [message]);
  assert.notEqual(b.seen.messages[0], message);
});

test("a tab is gone exactly when its liveness lock is granted, and the prober keeps it", async () => {
  const browser = fakeBrowser();
  const a = browser.tab("a");
  const b = browser.tab("b");
  const c = browser.tab("c");
  await Promise.all([a.tabs.alive, b.tabs.alive, c.tabs.alive]);
  assert.equal(await b.tabs.probeTab("a"), false, "a is alive");
  a.tabs.close();
  await settle();
  assert.equal(await b.tabs.probeTab("a"), true, "a is gone: b adopts");
  assert.equal(await c.tabs.probeTab("a"), false, "b holds a's lock now: c never adopts too");
});

test("pagehide with persisted and freeze hand over; pageshow and resume come back", () => {
  const browser = fakeBrowser();
  const a = browser.tab("a");
  a.fire("pagehide", { persisted: false });
  assert.equal(a.seen.sleeps, 0, "a real unload is no sleep");
  assert.equal(a.seen.unloads, 1, "a real unload lets the leader hand over first");
  a.fire("pagehide", { persisted: true });
  a.fire("freeze");
  assert.equal(a.seen.sleeps, 2);
  a.fire("pageshow", { persisted: true });
  a.fire("resume");
  assert.equal(a.seen.wakes, 2);
  a.tabs.close();
  assert.equal(a.listeners.size, 0, "close removes every listener");
});

test("the term survives in localStorage and a bad value reads as 0", () => {
  const browser = fakeBrowser();
  const a = browser.tab("a");
  a.tabs.storeTerm(7);
  assert.equal(browser.tab("b").tabs.readTerm(), 7);
  browser.storage.set("wsclient:ws://server/ws:term", "garbage");
  assert.equal(a.tabs.readTerm(), 0);
});
