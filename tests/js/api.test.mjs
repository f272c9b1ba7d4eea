// node --test tests/js: the page API's pure JavaScript (describe, encode, once) and createClient
// over a fake Python bridge.
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  createClient,
  describe,
  encode,
  guarded,
  once,
  pythonMessage,
  utf8Length,
} from "../../static/api.js";
import { PYTHON_STORES, fakePy } from "./fake_py.mjs";

/** What `fn()` threw: [constructor name, message]. */
const thrown = (fn) => {
  try {
    fn();
  } catch (err) {
    return [err.constructor.name, err.message];
  }
  assert.fail("expected a throw");
};

test("describe names what was passed", () => {
  assert.equal(describe(undefined), "undefined");
  assert.equal(describe(null), "null");
  assert.equal(describe("x"), 'the string "x"');
  assert.equal(describe(-0), "the number -0");
  assert.equal(describe(NaN), "the number NaN");
  assert.equal(describe(1n), "the bigint 1n");
  assert.equal(describe(false), "false");
  assert.equal(describe(() => 1), "a function");
  assert.equal(describe(Symbol("s")), "a symbol");
  assert.equal(describe([]), "an array");
  assert.equal(describe({}), "an object");
  assert.equal(describe(Object.create(null)), "an object");
  assert.equal(describe(new Map()), "a Map");
  assert.equal(describe(new Error("e")), "an Error");
  assert.equal(describe(new Date(0)), "a Date");
  const revoked = Proxy.revocable({}, {});
  revoked.revoke();
  assert.equal(describe(revoked.proxy), "a revoked Proxy");
});

test("encode gives exactly JSON.stringify's text, or a one-line TypeError", () => {
  const cases = [
    { a: undefined, b: 1 },
    new Map([[1, 2]]),
    new Date(0),
    { toJSON: () => ({ x: 1 }) },
    [undefined, () => 1, NaN, -0, 1e21, 1e-7],
    "\ud800 lone",
    null,
    [1, , 3], // eslint-disable-line no-sparse-arrays
  ];
  for (const value of cases) assert.equal(encode("send(message)", value), JSON.stringify(value));
  const cyclic = {};
  cyclic.self = cyclic;
  for (const value of [undefined, () => 1, Symbol("s"), 1n, { n: 1n }, cyclic]) {
    const [name, message] = thrown(() => encode("send(message)", value));
    assert.equal(name, "TypeError");
    assert.match(message, /^wsclient\.send\(message\): /);
    assert.doesNotMatch(message, /\n/);
  }
  assert.deepEqual(thrown(() => encode("send(message)", undefined)), [
    "TypeError",
    "wsclient.send(message): expected a value JSON can hold (an object, array, string, number, " +
      "boolean or null), got undefined",
  ]);
});

test("a TypeError raised in Python (too deep a message) reaches the caller as a TypeError", (t) => {
  t.mock.method(console, "debug", () => {});
  const python = (last) => {
    const err = new Error(`Traceback (most recent call last):\n  File "x", line 1\n${last}\n`);
    err.name = "PythonError";
    return err;
  };
  const refuse = () => {
    throw python("TypeError: expected arrays and objects nested at most 512 levels deep");
  };
  const ws = createClient(fakePy({ send: refuse, request: refuse }));
  let deep = [];
  for (let i = 0; i < 1000; i++) deep = [deep];
  assert.deepEqual(thrown(() => ws.send(deep)), [
    "TypeError",
    "wsclient.send(message): expected arrays and objects nested at most 512 levels deep",
  ]);
  assert.deepEqual(thrown(() => ws.request({ deep })), [
    "TypeError",
    "wsclient.request(message): expected arrays and objects nested at most 512 levels deep",
  ]);
});

test("once calls its function the first time only", () => {
  let n = 0;
  const f = once(() => (n += 1));
  f();
  f();
  assert.equal(n, 1);
});

test("guarded never throws: it reports each error with a key of its own", () => {
  const py = fakePy();
  const a = guarded(py, "a subscriber of wsclient.health", () => {
    throw new Error("boom");
  });
  const b = guarded(py, "a subscriber of wsclient.health", () => {
    throw "a string"; // eslint-disable-line no-throw-literal
  });
  const weird = guarded(py, "w", () => {
    throw {
      toString() {
        throw new Error("no");
      },
    };
  });
  a();
  a();
  b();
  weird();
  assert.equal(py.errors.length, 4);
  assert.equal(py.errors[0].text, "Error: boom");
  assert.match(py.errors[0].stack, /^\s+at /); // the stack without its "Error: boom" line
  assert.equal(py.errors[0].key, py.errors[1].key);
  assert.notEqual(py.errors[0].key, py.errors[2].key);
  assert.equal(py.errors[2].text, "a string");
  assert.equal(py.errors[3].text, "an object that cannot be shown as text");
  // Even a bridge that is gone does not make it throw.
  const gone = fakePy({
    countError() {
      throw new Error("interpreter gone");
    },
  });
  guarded(gone, "x", () => {
    throw new Error("y");
  })();
});

test("createClient: send and request cross as JSON.stringify text", async () => {
  const py = fakePy();
  const ws = createClient(py);
  assert.ok(Object.isFrozen(ws));
  ws.send({ a: undefined, when: new Date(0) });
  assert.deepEqual(py.calls.at(-1), ["send", JSON.stringify({ when: new Date(0) })]);
  const reply = ws.request({ type: "save", n: 2 ** 60 }, { timeout: 2500 });
  assert.deepEqual(py.calls.at(-1), ["request", JSON.stringify({ type: "save", n: 2 ** 60 }), 2500]);
  py.watchers.get("r1")(true, '{"big":12345678901234567891}', undefined);
  assert.deepEqual(await reply, { big: 12345678901234567891 });
  const refused = ws.request({ type: "save" });
  py.watchers.get("r2")(false, undefined, "not allowed");
  await assert.rejects(refused, { name: "Error", message: "not allowed" });
  const nothing = ws.request({ type: "save" });
  py.watchers.get("r3")(true, null, undefined);
  assert.equal(await nothing, undefined);
  assert.deepEqual(py.calls.at(-1), ["request", JSON.stringify({ type: "save" }), undefined]);
  // What is wrong with an id is Python's text (a test with the real bridge pins it).
  await assert.rejects(ws.wait("unknown"), {
    name: "Error",
    message: 'wsclient.wait(id): no request "unknown" is pending (fake)',
  });
});

test("createClient: bad arguments throw TypeErrors naming the method; nothing crosses", () => {
  const py = fakePy();
  const ws = createClient(py);
  const bad = [
    () => ws.send(undefined),
    () => ws.request(null),
    () => ws.request([1]),
    () => ws.request({ type: "x" }, 5),
    () => ws.request({ type: "x" }, { timeout: "5" }),
    () => ws.wait(1),
    () => ws.subscribe(5),
    () => ws.unsubscribe(3),
    () => ws.on(1, () => {}),
    () => ws.on("x"),
    () => ws.mountStatus(null),
    () => ws.state.subscribe(),
    () => ws.sync.subscribe(() => {}, 5),
  ];
  for (const call of bad) {
    const [name, message] = thrown(call);
    assert.equal(name, "TypeError", message);
    assert.match(message, /^wsclient\.[a-zA-Z.]+\(/);
    assert.doesNotMatch(message, /\n/);
  }
  assert.deepEqual(py.calls, []);
  assert.deepEqual(thrown(() => ws.unsubscribe("beta")), [
    "Error",
    'wsclient.unsubscribe(projectId): not subscribed to "beta" (fake)',
  ]);
  ws.unsubscribe("alpha");
});

test("createClient: a Python error becomes a one-line Error naming the method", (t) => {
  const traceback = (last) =>
    'Traceback (most recent call last):\n  File "/home/pyodide/wsclient/core.py", line 9, in x\n' +
    "    raise ValueError(...)\n" +
    last +
    "\n";
  const pythonError = (last) => {
    const err = new Error(traceback(last));
    err.name = "PythonError";
    return err;
  };
  const debug = t.mock.method(console, "debug", () => {});
  const ws = createClient(
    fakePy({
      send() {
        throw pythonError("ValueError: a message of 9 bytes is larger than max_queue_bytes (8)");
      },
      subscribe_project() {
        throw pythonError("wsclient.outbound.QueueFull: the outbox is full of requests");
      },
      connect() {
        throw pythonError("_Private.Inner_Error2: odd: but fine");
      },
      disconnect() {
        throw pythonError("KeyboardInterrupt");
      },
    }),
  );
  assert.deepEqual(thrown(() => ws.send({ a: 1 })), [
    "Error",
    "wsclient.send(message): a message of 9 bytes is larger than max_queue_bytes (8)",
  ]);
  assert.deepEqual(thrown(() => ws.subscribe("alpha")), [
    "Error",
    "wsclient.subscribe(projectId): the outbox is full of requests",
  ]);
  assert.deepEqual(thrown(() => ws.connect()), ["Error", "wsclient.connect(): odd: but fine"]);
  // A Python exception without a message: its class is all there is to say.
  assert.deepEqual(thrown(() => ws.disconnect()), [
    "Error",
    "wsclient.disconnect(): KeyboardInterrupt",
  ]);
  // The whole traceback went to the console at debug level, once per error.
  const logged = debug.mock.calls.map((c) => c.arguments.join(" "));
  assert.equal(logged.length, 4);
  assert.match(logged[0], /^wsclient\.send\(message\) failed in Python:\nPythonError: Traceback/);
  assert.match(logged[0], /File "\/home\/pyodide\/wsclient\/core\.py", line 9/);
  assert.match(logged[0], /ValueError: a message of 9 bytes/);
  assert.match(logged[1], /wsclient\.outbound\.QueueFull: the outbox is full/);
});

test("pythonMessage strips the class of builtin and dotted Python exceptions only", () => {
  const py = (last) => {
    const err = new Error(`Traceback (most recent call last):\n  File "x", line 1\n${last}\n`);
    err.name = "PythonError";
    return err;
  };
  assert.equal(pythonMessage(py("ValueError: bad value")), "bad value");
  assert.equal(pythonMessage(py("wsclient.outbound.QueueFull: full: wait")), "full: wait");
  assert.equal(pythonMessage(py("pyodide.ffi.JsException: x")), "x");
  assert.equal(pythonMessage(py("MemoryError")), "MemoryError");
  // Not a class name: kept as it is.
  assert.equal(pythonMessage(py("not a class: kept")), "not a class: kept");
  assert.equal(pythonMessage(py("3d.x: kept")), "3d.x: kept");
});

test("createClient: a text over max_queue_bytes is refused in JS, before it crosses", (t) => {
  const debug = t.mock.method(console, "debug", () => {});
  const py = fakePy({}, { maxQueueBytes: 20 });
  const ws = createClient(py);
  // Just fits: 20 UTF-16 units ({"p":"" is 7, "}" 1: 12 characters of padding).
  ws.send({ p: "x".repeat(12) });
  assert.equal(py.calls.at(-1)[1].length, 20);
  py.calls.length = 0;
  assert.deepEqual(thrown(() => ws.send({ p: "x".repeat(13) })), [
    "Error",
    "wsclient.send(message): a message of 21 bytes is larger than max_queue_bytes (20): " +
      "send it in parts, or raise max_queue_bytes",
  ]);
  // The size named is the UTF-8 size Python would count: \u00e9 takes 2 bytes, an emoji 4.
  assert.deepEqual(thrown(() => ws.request({ p: "\u00e9".repeat(11) + "\ud83d\ude00" })), [
    "Error",
    "wsclient.request(message): a message of 34 bytes is larger than max_queue_bytes (20): " +
      "send it in parts, or raise max_queue_bytes",
  ]);
  assert.deepEqual(py.calls, [], "nothing crossed into Python");
  // 20 UTF-16 units but 32 UTF-8 bytes: JS cannot be sure without counting, so Python decides.
  ws.request({ p: "\u00e9".repeat(10) + "\ud83d\ude00" });
  assert.equal(py.calls.length, 1);
  assert.equal(debug.mock.calls.length, 0, "no Python traceback: Python was not called");
});

test("utf8Length counts what Python's str.encode() gives", () => {
  const cases = ["", "abc", "\u00e9", "\u4e2d\u6587", "\ud83d\ude00", "a\u0080\u07ff\u0800\uffff"];
  for (const text of cases) {
    assert.equal(utf8Length(text), Buffer.byteLength(text, "utf8"), JSON.stringify(text));
  }
  // A lone surrogate (which JSON.stringify escapes anyway) counts as U+FFFD would.
  assert.equal(utf8Length("\ud800x"), 4);
  // The bound JS relies on: never fewer bytes than UTF-16 code units.
  for (const text of cases) assert.ok(utf8Length(text) >= text.length);
});

test("mountStatus takes any DOM element (nodeType 1), an iframe's too", () => {
  const mounted = [];
  const ws = createClient(
    fakePy({
      mountStatus: (element) => {
        mounted.push(element);
        return () => {};
      },
    }),
  );
  // An element of another frame is not `instanceof` this frame's Element; its nodeType is 1.
  const foreign = { nodeType: 1, tagName: "DIV" };
  assert.equal(typeof ws.mountStatus(foreign), "function");
  assert.deepEqual(mounted, [foreign]);
  const revoked = Proxy.revocable({}, {});
  revoked.revoke();
  for (const bad of [null, undefined, {}, { nodeType: 3 }, { nodeType: "1" }, "div", 1, revoked.proxy]) {
    const [name, message] = thrown(() => ws.mountStatus(bad));
    assert.equal(name, "TypeError");
    assert.equal(message, `wsclient.mountStatus(element): expected a DOM element, got ${describe(bad)}`);
  }
  assert.equal(mounted.length, 1);
});

test("createClient: stores and listeners get JSON.parse values; removers work twice", () => {
  const py = fakePy();
  const ws = createClient(py);
  const seen = [];
  const unsubscribe = ws.state.subscribe((v) => seen.push(v));
  assert.deepEqual(seen, [{ status: "connected" }]);
  // No invalidate: Python gets undefined (None), not null (a JsNull it would try to call).
  assert.deepEqual(py.calls.at(-1), ["store", "state", "undefined"]);
  ws.health.subscribe(
    () => {},
    () => {},
  );
  assert.deepEqual(py.calls.at(-1), ["store", "health", "function"]);
  unsubscribe();
  unsubscribe();
  assert.equal(py.subscribers.get("state").size, 0);

  const got = [];
  const off = ws.on("chat", (m) => got.push(m));
  py.listeners[0][1]('{"type":"chat","id":12345678901234567891,"inf":1e400}');
  assert.deepEqual(got, [{ type: "chat", id: 12345678901234567891, inf: Infinity }]);
  off();
  off();
  assert.equal(py.listeners.length, 0);

  // A throwing subscriber is reported, never thrown into Python.
  ws.messages.subscribe(() => {
    throw new Error("bad");
  });
  assert.equal(py.errors.length, 1);
  assert.equal(py.errors[0].where, "a subscriber of wsclient.messages");
  assert.deepEqual(ws.callbackErrors(), { count: 1, last: null });
  assert.equal(ws.debug.liveProxies(), 7);
  assert.equal(ws.debug.subscriberCount("files"), 2);
  assert.throws(() => ws.debug.subscriberCount("nope"), {
    name: "TypeError",
    message:
      `wsclient.debug.subscriberCount(name): expected one of ${PYTHON_STORES.join(", ")}, ` +
      'got the string "nope"',
  });
});
