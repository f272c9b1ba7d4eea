// The JavaScript half of the browser adapter (src/wsclient/browser.py loads it through
// pyscript.toml's [js_modules.main]). Python owns every decision; this file only does what
// must happen per frame without crossing into Python: collect frames and hand them over in
// batches, one FFI call per batch instead of one per frame.

// U+001E (record separator) never appears unescaped in valid JSON, so a batch of text frames
// without it crosses as one joined string that Python splits: one string conversion per batch.
export const SEPARATOR = "\x1e";

// A batch should take about SLICE_MS of the main thread, so under a flood a click or an
// animation frame never waits much longer than that behind us (the flood bench measured 4 ms
// slices no better than 8 ms). The batch size is learned from how long recent batches took per
// frame, and kept between MIN_BATCH (so that the per-batch cost stays small next to the frames)
// and MAX_BATCH (so that one slow estimate cannot make a long task).
export const SLICE_MS = 8;
export const MIN_BATCH = 16;
export const MAX_BATCH = 512;

// A MessageChannel hop is the quickest way to run after the frames already queued, but a flood of
// them can starve timers; so at least every YIELD_MS the next batch waits in the timer queue
// instead, behind whatever timers are due.
export const YIELD_MS = 20;

// The weight of the newest batch in the running estimate of milliseconds per frame.
const LEARNING_RATE = 0.3;

/**
 * Collects frames and delivers them in time-sliced batches, in order.
 *
 * `deliver(batch)` gets either one string (text frames joined with SEPARATOR) or an array whose
 * items are strings (text frames) and numbers (the byte length of a binary frame).
 * `env` supplies the clock and the two ways to run later: `now()` in milliseconds, `soon(fn)`
 * (a MessageChannel hop in the page) and `later(fn)` (a zero-delay timer).
 */
export function createPump(deliver, env) {
  let frames = [];
  let joinable = true;
  let scheduled = false;
  let msPerFrame = SLICE_MS / 256;
  let lastYield = env.now();

  const batchSize = () =>
    Math.max(MIN_BATCH, Math.min(MAX_BATCH, Math.floor(SLICE_MS / msPerFrame)));

  const deliverOne = () => {
    const size = batchSize();
    let batch;
    let joined = joinable;
    if (frames.length > size) {
      batch = frames.splice(0, size);
      joined = joinable || batch.every((f) => typeof f === "string" && !f.includes(SEPARATOR));
    } else {
      batch = frames;
      frames = [];
      joinable = true;
    }
    const started = env.now();
    deliver(joined ? batch.join(SEPARATOR) : batch);
    const perFrame = (env.now() - started) / batch.length;
    msPerFrame = (1 - LEARNING_RATE) * msPerFrame + LEARNING_RATE * perFrame;
  };

  const run = () => {
    scheduled = false;
    if (frames.length) deliverOne();
    if (frames.length) schedule();
  };

  const schedule = () => {
    scheduled = true;
    if (env.now() - lastYield < YIELD_MS) {
      env.soon(run);
    } else {
      env.later(() => {
        lastYield = env.now();
        run();
      });
    }
  };

  return {
    /** Queue one frame: a string, or the byte length of a binary frame. */
    push(frame) {
      if (typeof frame !== "string" || frame.includes(SEPARATOR)) joinable = false;
      frames.push(frame);
      // A full batch is ready: deliver it in this task rather than wait for a hop that a busy
      // event loop runs late (the first-burst stall).
      if (frames.length >= batchSize()) deliverOne();
      if (frames.length && !scheduled) schedule();
    },
    /** Deliver everything queued now (before a close is reported). */
    flush() {
      while (frames.length) deliverOne();
    },
    /** Forget everything queued (the socket was let go). */
    clear() {
      frames = [];
      joinable = true;
    },
    get pending() {
      return frames.length;
    },
  };
}

/**
 * Open a WebSocket whose frames reach `onBatch` through a pump. A constructor failure (e.g. a
 * URL the browser refuses) is reported as a close (1006), so Python sees one kind of failure.
 * `onClose(code, reason, bufferedAmount)`: the bytes still unsent when it closed. Returns the
 * handle Python keeps: `send(text)` (false when the socket is not OPEN: nothing is written to a
 * socket that is going away), `close(code, reason)` (returns the unsent bytes), `detach()`.
 */
export function openSocket(url, onOpen, onBatch, onClose) {
  let ws;
  try {
    ws = new WebSocket(url);
  } catch (err) {
    const timer = setTimeout(() => onClose(1006, String((err && err.message) || err), 0), 0);
    return {
      send: () => false,
      close: () => 0,
      detach: () => clearTimeout(timer),
    };
  }
  ws.binaryType = "arraybuffer";
  const channel = new MessageChannel();
  let hop = null;
  channel.port1.onmessage = () => {
    const fn = hop;
    hop = null;
    if (fn) fn();
  };
  const pump = createPump(onBatch, {
    now: () => performance.now(),
    soon(fn) {
      hop = fn;
      channel.port2.postMessage(0);
    },
    later: (fn) => setTimeout(fn, 0),
  });
  ws.onopen = () => onOpen();
  ws.onmessage = (e) => pump.push(typeof e.data === "string" ? e.data : e.data.byteLength);
  ws.onclose = (e) => {
    pump.flush();
    onClose(e.code, e.reason, ws.bufferedAmount);
  };
  return {
    send(text) {
      if (ws.readyState !== WebSocket.OPEN) return false;
      ws.send(text);
      return true;
    },
    close(code, reason) {
      const unsent = ws.bufferedAmount;
      try {
        ws.close(code, reason);
      } catch (_) {
        ws.close();
      }
      return unsent;
    },
    detach() {
      ws.onopen = ws.onmessage = ws.onclose = null;
      channel.port1.onmessage = null;
      channel.port1.close();
      pump.clear();
      if (ws.readyState < WebSocket.CLOSING) ws.close(1000);
    },
  };
}

/** A function that calls `fn` the first time and does nothing after (unsubscribers, removers). */
export function once(fn) {
  let pending = fn;
  return () => {
    if (pending === null) return;
    const call = pending;
    pending = null;
    call();
  };
}

// --- window.wsclient: the page's JavaScript API (docs/protocol.md) ------------------------------
//
// Everything a JS developer touches is JavaScript: arguments are checked here (TypeError for a
// wrong argument, naming the method), messages are serialized with JSON.stringify and values
// arrive as JSON.parse gives them, requests are Promises, removers can be called twice, and a
// callback that throws is reported once and changes nothing else. Python gets JSON text and
// plain strings through `py`, a small bridge made by src/wsclient/browser.py.

/** What a value is, for error messages: "null", "the string \"x\"", "a Map"... */
export function describe(value) {
  if (value === null || value === undefined) return String(value);
  switch (typeof value) {
    case "string":
      return `the string ${JSON.stringify(value)}`;
    case "number":
      return `the number ${value}`;
    case "bigint":
      return `the bigint ${value}n`;
    case "boolean":
      return String(value);
    case "function":
      return "a function";
    case "symbol":
      return "a symbol";
    default: {
      if (Array.isArray(value)) return "an array";
      const tag = Object.prototype.toString.call(value).slice(8, -1);
      return tag === "Object" ? "an object" : `a ${tag}`;
    }
  }
}

const projectId = (method, value) => {
  if (typeof value !== "string" || !value.trim()) {
    throw new TypeError(
      `wsclient.${method}(projectId): expected a non-empty string, got ${describe(value)}`,
    );
  }
  return value.trim();
};

const callback = (method, value) => {
  if (typeof value !== "function") {
    throw new TypeError(`wsclient.${method}: expected a function, got ${describe(value)}`);
  }
  return value;
};

/** JSON text for `value`, exactly as JSON.stringify gives it; a TypeError if it gives none. */
export function encode(method, value) {
  let text;
  try {
    text = JSON.stringify(value);
  } catch (err) {
    throw new TypeError(`wsclient.${method}: cannot send this value as JSON: ${err.message}`);
  }
  if (text === undefined) {
    throw new TypeError(
      `wsclient.${method}: expected a value JSON can hold (an object, array, string, number, ` +
        `boolean or null), got ${describe(value)}`,
    );
  }
  return text;
}

/** Calls `fn`; if it throws, reports the error the first time (console + Python's count). */
const guarded = (py, where, fn) => {
  let reported = false;
  return (...args) => {
    try {
      fn(...args);
    } catch (err) {
      py.countError(where, String((err && err.message) || err));
      if (!reported) {
        reported = true;
        console.error(`wsclient: ${where} threw; later errors are only counted`, err);
      }
    }
  };
};

/** A Svelte-contract store over one of Python's stores (values cross as JSON text). */
const store = (py, name) => ({
  subscribe(run, invalidate) {
    callback(`${name}.subscribe(run)`, run);
    if (invalidate !== undefined && invalidate !== null) {
      callback(`${name}.subscribe(run, invalidate)`, invalidate);
    }
    const safeRun = guarded(py, `a subscriber of wsclient.${name}`, (text) => run(JSON.parse(text)));
    const safeInvalidate = invalidate ? guarded(py, `an invalidator of ${name}`, invalidate) : null;
    return once(py.subscribe(name, safeRun, safeInvalidate));
  },
});

const deferred = () => {
  let resolve;
  let reject;
  const promise = new Promise((yes, no) => {
    resolve = yes;
    reject = no;
  });
  return { promise, resolve, reject };
};

/** Settle `d` when Python says the request `id` is over. */
const settleWhenDone = (py, id, d) => {
  py.watch(id, (ok, dataText, error) => {
    if (ok) d.resolve(dataText === undefined ? undefined : JSON.parse(dataText));
    else d.reject(new Error(error));
  });
};

/** Build window.wsclient around the Python bridge `py`. */
export function createClient(py) {
  return Object.freeze({
    send(message) {
      const text = encode("send(message)", message);
      py.send(text);
    },
    request(message, options) {
      if (message === null || typeof message !== "object" || Array.isArray(message)) {
        throw new TypeError(
          `wsclient.request(message): expected a plain object, got ${describe(message)}`,
        );
      }
      const timeout = options?.timeout ?? 10000;
      if (typeof timeout !== "number" || !(timeout > 0) || !Number.isFinite(timeout)) {
        throw new TypeError(
          `wsclient.request(message, {timeout}): expected a positive number of milliseconds, ` +
            `got ${describe(timeout)}`,
        );
      }
      const text = encode("request(message)", message);
      if (Object.prototype.hasOwnProperty.call(JSON.parse(text), "id")) {
        throw new TypeError(
          "wsclient.request(message): the message already has an 'id'; the client sets it: " +
            "remove it",
        );
      }
      const d = deferred();
      settleWhenDone(py, py.request(text, timeout / 1000), d);
      return d.promise;
    },
    pending() {
      return JSON.parse(py.pending());
    },
    wait(id) {
      if (typeof id !== "string") {
        throw new TypeError(`wsclient.wait(id): expected a request id string, got ${describe(id)}`);
      }
      const d = deferred();
      if (!py.known(id)) {
        d.reject(new Error(`wsclient.wait(id): no request ${JSON.stringify(id)} is pending`));
      } else {
        settleWhenDone(py, id, d);
      }
      return d.promise;
    },
    subscribe(project) {
      py.subscribe_project(projectId("subscribe", project));
    },
    unsubscribe(project) {
      const id = projectId("unsubscribe", project);
      if (!py.unsubscribe_project(id)) {
        throw new Error(
          `wsclient.unsubscribe(projectId): not subscribed to ${JSON.stringify(id)}; ` +
            "call subscribe() first",
        );
      }
    },
    on(type, listener) {
      if (typeof type !== "string") {
        throw new TypeError(`wsclient.on(type, callback): expected a type string, got ${describe(type)}`);
      }
      callback("on(type, callback)", listener);
      const safe = guarded(py, `a listener for ${JSON.stringify(type)}`, (text) =>
        listener(JSON.parse(text)),
      );
      return once(py.on(type, safe));
    },
    connect() {
      py.connect();
    },
    disconnect() {
      py.disconnect();
    },
    mountStatus(element) {
      if (!(element instanceof Element)) {
        throw new TypeError(
          `wsclient.mountStatus(element): expected a DOM element, got ${describe(element)}`,
        );
      }
      return once(py.mountStatus(element));
    },
    state: store(py, "state"),
    messages: store(py, "messages"),
    health: store(py, "health"),
    sync: store(py, "sync"),
    liveProxies: () => py.liveProxies(),
  });
}
