// node --test tests/js: $stores/websocket (svelte/lib/stores/websocket.js) before and after the
// Python client is ready: honest initial values, calls kept and carried out in order, and
// stores that hand over to Python's without a value going back.
import assert from "node:assert/strict";
import { test } from "node:test";

import { get } from "svelte/store";

import { createClient } from "../../static/api.js";
import { fakePy } from "./fake_py.mjs";

// The page, before Python: no window.wsclient yet.
globalThis.window = new EventTarget();
globalThis.navigator ??= { onLine: true };
const reported = [];
globalThis.reportError = (err) => reported.push(err);

const stores = await import("../../svelte/lib/stores/websocket.js");
const { getWebSocketClient, isConnected, wsFiles, wsMessages, wsState } = stores;

/** A fake Python bridge whose stores hold `values` (JSON text crosses, as from Python). */
function pythonWith(values) {
  const sent = [];
  const subscribers = new Map();
  const py = fakePy({
    send: (text) => sent.push(["send", JSON.parse(text)]),
    subscribe_project: (id) => sent.push(["subscribe", id]),
    connect: () => sent.push(["connect"]),
    subscribe(name, run) {
      if (!subscribers.has(name)) subscribers.set(name, new Set());
      subscribers.get(name).add(run);
      run(JSON.stringify(values[name]));
      return () => subscribers.get(name).delete(run);
    },
  });
  const publish = (name, value) => {
    values[name] = value;
    for (const run of subscribers.get(name) ?? []) run(JSON.stringify(value));
  };
  return { py, sent, subscribers, publish };
}

test("before ready, after ready: calls kept in order, stores hand over without going back", async () => {
  // Before ready: the story's initial values.
  assert.deepEqual(get(wsState), { status: "connecting", reconnectAttempts: 0, error: null });
  assert.deepEqual(get(wsMessages), []);
  assert.deepEqual(get(wsFiles), {});
  assert.equal(get(isConnected), false);

  const seen = [];
  const stop = wsState.subscribe((v) => seen.push(v.status));

  const ws = getWebSocketClient();
  ws.subscribe("alpha");
  ws.send({ type: "chat", n: 1 });
  const got = [];
  const off = ws.on("chat", (m) => got.push(m));
  const removedEarly = ws.on("chat", () => assert.fail("removed before ready"));
  removedEarly();
  const reply = ws.request({ type: "save" });
  ws.connect();
  assert.throws(() => ws.send(1n), { name: "TypeError" }, "a bad argument throws at once");
  assert.throws(() => ws.pending(), /not ready yet/);

  // Python comes up: connecting, then connected.
  const python = pythonWith({
    state: { status: "connecting", reconnectAttempts: 0, error: null },
    files: {},
    messages: [],
  });
  window.wsclient = createClient(python.py);
  window.dispatchEvent(new Event("wsclient:ready"));

  assert.deepEqual(python.sent, [["subscribe", "alpha"], ["send", { type: "chat", n: 1 }], ["connect"]]);
  assert.deepEqual(
    python.py.calls.filter(([kind]) => kind === "request").map(([, text]) => JSON.parse(text)),
    [{ type: "save" }],
  );
  assert.equal(python.py.listeners.length, 1, "only the listener still wanted is added");
  python.py.watchers.get("r1")(true, '{"saved":true}', undefined);
  assert.deepEqual(await reply, { saved: true });

  python.py.listeners[0][1]('{"type":"chat","n":2}');
  assert.deepEqual(got, [{ type: "chat", n: 2 }]);
  off();
  assert.equal(python.py.listeners.length, 0, "an early remover works after ready");

  python.publish("state", { status: "connected", reconnectAttempts: 0, error: null });
  assert.deepEqual(seen, ["connecting", "connected"], "the same state is not told twice");
  assert.equal(get(isConnected), true);

  // The last subscriber leaves: the Python subscription ends; a new one gets Python's value.
  stop();
  assert.equal(python.subscribers.get("state").size, 0);
  const again = [];
  wsState.subscribe((v) => again.push(v.status))();
  assert.deepEqual(again, ["connected"]);

  // After ready, calls go straight to the client.
  ws.send({ type: "after" });
  assert.deepEqual(python.sent.at(-1), ["send", { type: "after" }]);
  assert.deepEqual(reported, []);
});
