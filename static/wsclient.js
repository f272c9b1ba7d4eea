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

// A batch also holds at most MAX_BATCH_CHARS characters of text frames (but always at least one
// frame): a batch is copied into WebAssembly memory whole, and Pyodide's memory grows to the
// largest amount it ever held and never shrinks, so sixteen 10 MB frames must cross one by one
// rather than as one 160 MB string (about 1 Mi characters is ~8 ms of decoding, a slice).
export const MAX_BATCH_CHARS = 1 << 20;

// The weight of the newest batch in the running estimate of milliseconds per frame.
const LEARNING_RATE = 0.3;

/** Characters a queued frame adds to a batch: a text frame's length; a number (a binary frame's
 * size, or a dropped text frame's marker) crosses as a number. */
const charsOf = (frame) => (typeof frame === "string" ? frame.length : 0);

/**
 * Collects frames and delivers them in time-sliced batches, in order.
 *
 * `deliver(batch)` gets either one string (text frames joined with SEPARATOR) or an array whose
 * items are strings (text frames) and numbers: the byte length of a binary frame (>= 0), or
 * minus the length of a text frame dropped unread for being over the frame limit (< 0). A batch
 * holds at most the learned batch size of frames and MAX_BATCH_CHARS characters (at least one
 * frame).
 * `env` supplies the clock and the two ways to run later: `now()` in milliseconds, `soon(fn)`
 * (a MessageChannel hop in the page) and `later(fn)` (a zero-delay timer).
 */
export function createPump(deliver, env) {
  let frames = [];
  let chars = 0; // characters of the text frames in `frames`
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
    if (frames.length > size || chars > MAX_BATCH_CHARS) {
      const most = Math.min(size, frames.length);
      let n = 1;
      let taken = charsOf(frames[0]);
      while (n < most && taken + charsOf(frames[n]) <= MAX_BATCH_CHARS) taken += charsOf(frames[n++]);
      batch = frames.splice(0, n);
      chars -= taken;
      joined = joinable || batch.every((f) => typeof f === "string" && !f.includes(SEPARATOR));
    } else {
      batch = frames;
      frames = [];
      chars = 0;
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
      chars += charsOf(frame);
      // A full batch is ready: deliver it in this task rather than wait for a hop that a busy
      // event loop runs late (the first-burst stall).
      if (frames.length >= batchSize() || chars >= MAX_BATCH_CHARS) deliverOne();
      if (frames.length && !scheduled) schedule();
    },
    /** Deliver everything queued now (before a close is reported). */
    flush() {
      while (frames.length) deliverOne();
    },
    /** Forget everything queued (the socket was let go). */
    clear() {
      frames = [];
      chars = 0;
      joinable = true;
    },
    get pending() {
      return frames.length;
    },
  };
}

/** What the pump queues for a frame's `data`: the text; minus its length if it is longer than
 * `maxFrameSize` characters (a drop); or the byte length of a binary frame. */
export const frameItem = (data, maxFrameSize) => {
  if (typeof data !== "string") return data.byteLength;
  return data.length > maxFrameSize ? -data.length : data;
};

/**
 * Open a WebSocket whose frames reach `onBatch` through a pump. A constructor failure (e.g. a
 * URL the browser refuses) is reported as a close (1006), so Python sees one kind of failure.
 * `onClose(code, reason, bufferedAmount)`: the bytes still unsent when it closed. A text frame
 * longer than `maxFrameSize` characters (the max_frame_size option) is dropped here, before it
 * is copied into WebAssembly memory: its batch carries minus its length instead, which Python
 * counts as a "too_large" drop. Returns the handle Python keeps: `send(text)` (false when the
 * socket is not OPEN: nothing is written to a socket that is going away), `close(code, reason)`
 * (returns the unsent bytes), `detach()`.
 */
export function openSocket(url, onOpen, onBatch, onClose, maxFrameSize = Infinity) {
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
  ws.onmessage = (e) => pump.push(frameItem(e.data, maxFrameSize));
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
// wrong argument, naming the method; Error for other misuse), messages are serialized with
// JSON.stringify and values arrive as JSON.parse gives them, requests are Promises, removers can be
// called twice, and a callback that throws is reported once and changes nothing else. Python gets
// JSON text and plain strings through `py`, a small bridge made by src/wsclient/browser.py; an
// error raised there reaches the caller as a one-line Error naming the method, without the Python
// exception's class or traceback (the traceback goes to console.debug).

/** The deepest nesting a message may have: what the client accepts from the server too
 * (MAX_DEPTH in src/wsclient/messages.py). Much deeper JSON overflows the stack of Pyodide's
 * JSON decoder, which kills the interpreter. */
export const MAX_DEPTH = 512;

/** The Python stores `window.wsclient` offers (each a Svelte-contract store). */
export const STORE_NAMES = Object.freeze([
  "state", "messages", "health", "sync", "projects", "files", "processes",
]);

/** What a value is, for error messages: "null", "the string \"x\"", "a Map"... */
export function describe(value) {
  if (value === null || value === undefined) return String(value);
  switch (typeof value) {
    case "string":
      return `the string ${JSON.stringify(value)}`;
    case "number":
      return `the number ${Object.is(value, -0) ? "-0" : value}`;
    case "bigint":
      return `the bigint ${value}n`;
    case "boolean":
      return String(value);
    case "function":
      return "a function";
    case "symbol":
      return "a symbol";
    default: {
      let tag;
      try {
        if (Array.isArray(value)) return "an array";
        tag = Object.prototype.toString.call(value).slice(8, -1);
      } catch (_) {
        return "a revoked Proxy";
      }
      if (tag === "Object") return "an object";
      return `${/^[AEIOU]/.test(tag) ? "an" : "a"} ${tag}`;
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

/** How deeply `text` (JSON) nests arrays and objects. */
export function depth(text) {
  let level = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x5b || c === 0x7b) {
      if (++level > deepest) deepest = level;
    } else if (c === 0x5d || c === 0x7d) {
      level--;
    }
  }
  return deepest;
}

/** What was thrown (an Error, a string, an object whose toString throws...), as text. */
const errorText = (err) => {
  try {
    if (err instanceof Error) return `${err.name}: ${err.message}`;
    return String(err);
  } catch (_) {
    return `${describe(err)} that cannot be shown as text`;
  }
};

/** Text on one line (V8's message for a cycle takes three). */
const oneLine = (text) => text.replace(/\s*\n\s*/g, " ");

/** JSON text for `value`, exactly as JSON.stringify gives it; a TypeError if it gives none. */
export function encode(method, value) {
  let text;
  try {
    text = JSON.stringify(value);
  } catch (err) {
    throw new TypeError(`wsclient.${method}: cannot send this value as JSON: ${oneLine(errorText(err))}`);
  }
  if (text === undefined) {
    throw new TypeError(
      `wsclient.${method}: expected a value JSON can hold (an object, array, string, number, ` +
        `boolean or null), got ${describe(value)}`,
    );
  }
  // Nesting d takes 2d characters at least: short texts need no scan (the common case).
  const levels = text.length <= 2 * MAX_DEPTH ? 0 : depth(text);
  if (levels > MAX_DEPTH) {
    throw new TypeError(
      `wsclient.${method}: expected arrays and objects nested at most ${MAX_DEPTH} levels ` +
        `deep, got ${levels} levels`,
    );
  }
  return text;
}

// The exception class that starts the last line of a Python traceback: a builtin name
// ("ValueError: ") or a dotted path ("wsclient.outbound.QueueFull: ").
const PYTHON_CLASS = /^[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*: /;

/** What a Python exception says, without its traceback or its class: the last line of the
 * traceback, "ValueError: a message of..." -> "a message of...". */
export const pythonMessage = (err) => {
  const text = errorText(err);
  const lines = text.split("\n").filter((line) => line.trim());
  const last = lines.length ? lines[lines.length - 1].trim() : text;
  return last.replace(PYTHON_CLASS, "") || last;
};

/** Calls `py[name](...args)`; a Python error becomes a one-line Error naming `method`, and its
 * whole traceback goes to the console at debug level (for whoever debugs the client). */
const call = (py, method, name, ...args) => {
  try {
    return py[name](...args);
  } catch (err) {
    try {
      console.debug(`wsclient.${method} failed in Python:\n${errorText(err)}`);
    } catch (_) {
      // No console: the Error below still says what went wrong.
    }
    throw new Error(`wsclient.${method}: ${pythonMessage(err)}`);
  }
};

/** How many bytes `text` takes in UTF-8 (a lone surrogate counts 3, as U+FFFD would). */
export function utf8Length(text) {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c < 0xdc00 && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next < 0xe000) {
        bytes += 4;
        i++;
      } else bytes += 3;
    } else bytes += 3;
  }
  return bytes;
}

/** Refuses, before it crosses into Python (into WebAssembly memory, which never shrinks), a text
 * that is surely over max_queue_bytes: its UTF-16 length is a lower bound of its UTF-8 size, for
 * every string (each code unit of the BMP takes 1 to 3 bytes, a surrogate pair 4 bytes for its 2
 * units, and JSON.stringify writes a lone surrogate as a 6-character escape), so a text longer
 * than the limit is over it. A shorter text may still be over it (up to 3 bytes per unit):
 * Python checks the exact size of those, and its error says the same. */
const checkSize = (method, text, maxQueueBytes) => {
  if (text.length > maxQueueBytes) {
    throw new Error(
      `wsclient.${method}: a message of ${utf8Length(text)} bytes is larger than ` +
        `max_queue_bytes (${maxQueueBytes}): send it in parts, or raise max_queue_bytes`,
    );
  }
};

/** Whether `value` is a DOM element: nodeType 1, not `instanceof Element`, which is false for
 * an element of an iframe (it has that frame's Element). */
const isElement = (value) => {
  try {
    return value !== null && typeof value === "object" && value.nodeType === 1;
  } catch (_) {
    return false; // a revoked Proxy
  }
};

let callbackSerial = 0;

/** Calls `fn`; if it throws, Python counts the error in wsclient.stores.callback_errors and
 * logs it (with the JS stack) the first time this callback throws. Never throws itself: a
 * throwing subscriber must not reach the Python code that notified it. */
export const guarded = (py, where, fn) => {
  const key = ++callbackSerial;
  return (...args) => {
    try {
      fn(...args);
    } catch (err) {
      try {
        const text = errorText(err);
        let stack = err instanceof Error && typeof err.stack === "string" ? err.stack : "";
        if (stack.startsWith(text)) stack = stack.slice(text.length).replace(/^\n/, "");
        py.countError(where, text, stack, key);
      } catch (_) {
        // Python is gone (the page is unloading): nothing left to tell.
      }
    }
  };
};

/** A Svelte-contract store over one of Python's stores (values cross as JSON text). */
export const store = (py, name) => ({
  subscribe(run, invalidate) {
    callback(`${name}.subscribe(run)`, run);
    if (invalidate !== undefined && invalidate !== null) {
      callback(`${name}.subscribe(run, invalidate)`, invalidate);
    }
    const safeRun = guarded(py, `a subscriber of wsclient.${name}`, (text) => run(JSON.parse(text)));
    const safeInvalidate =
      typeof invalidate === "function"
        ? guarded(py, `an invalidator of wsclient.${name}`, () => invalidate())
        : undefined; // undefined reaches Python as None (null would be a JsNull)
    return once(call(py, `${name}.subscribe(run)`, "subscribe", name, safeRun, safeInvalidate));
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

/** Settle `d` when Python says the request `id` is over; false if Python has no such request. */
const settleWhenDone = (py, method, id, d) =>
  call(py, method, "watch", id, (ok, dataText, error) => {
    if (ok) d.resolve(dataText === undefined || dataText === null ? undefined : JSON.parse(dataText));
    else d.reject(new Error(error));
  });

/** Build window.wsclient around the Python bridge `py`. */
export function createClient(py) {
  // The client's options do not change once it runs: read the outbox's byte bound once.
  const maxQueueBytes =
    typeof py.maxQueueBytes === "function" ? call(py, "createClient", "maxQueueBytes") : Infinity;
  return Object.freeze({
    send(message) {
      const text = encode("send(message)", message);
      checkSize("send(message)", text, maxQueueBytes);
      call(py, "send(message)", "send", text);
    },
    request(message, options) {
      if (message === null || typeof message !== "object" || Array.isArray(message)) {
        throw new TypeError(
          `wsclient.request(message): expected a plain object, got ${describe(message)}`,
        );
      }
      if (options !== undefined && (options === null || typeof options !== "object")) {
        throw new TypeError(
          `wsclient.request(message, options): expected an options object like {timeout: 5000}, ` +
            `got ${describe(options)}`,
        );
      }
      const timeout = options?.timeout ?? 10000;
      // setTimeout cannot wait longer than 2**31 - 1 ms (a longer delay fires at once).
      if (typeof timeout !== "number" || !(timeout >= 1 && timeout <= 2 ** 31 - 1)) {
        throw new TypeError(
          "wsclient.request(message, {timeout}): expected a number of milliseconds from 1 to " +
            `${2 ** 31 - 1}, got ${describe(timeout)}`,
        );
      }
      const text = encode("request(message)", message);
      if (text[0] !== "{") {
        throw new TypeError(
          "wsclient.request(message): expected a value that JSON.stringify turns into an object, " +
            `got ${describe(message)} (JSON ${text.length > 40 ? text.slice(0, 40) + "..." : text})`,
        );
      }
      if (Object.prototype.hasOwnProperty.call(JSON.parse(text), "id")) {
        throw new TypeError(
          "wsclient.request(message): the message already has an 'id'; the client sets it: " +
            "remove it",
        );
      }
      checkSize("request(message)", text, maxQueueBytes);
      const d = deferred();
      const id = call(py, "request(message)", "request", text, timeout / 1000);
      settleWhenDone(py, "request(message)", id, d);
      return d.promise;
    },
    pending() {
      return JSON.parse(call(py, "pending()", "pending"));
    },
    wait(id) {
      if (typeof id !== "string") {
        throw new TypeError(`wsclient.wait(id): expected a request id string, got ${describe(id)}`);
      }
      const d = deferred();
      if (!settleWhenDone(py, "wait(id)", id, d)) {
        d.reject(
          new Error(
            `wsclient.wait(id): no request ${JSON.stringify(id)} is pending; ` +
              "pending() lists the ones this page has",
          ),
        );
      }
      return d.promise;
    },
    subscribe(project) {
      call(py, "subscribe(projectId)", "subscribe_project", projectId("subscribe", project));
    },
    unsubscribe(project) {
      const id = projectId("unsubscribe", project);
      if (!call(py, "unsubscribe(projectId)", "unsubscribe_project", id)) {
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
      return once(call(py, "on(type, callback)", "on", type, safe));
    },
    connect() {
      call(py, "connect()", "connect");
    },
    disconnect() {
      call(py, "disconnect()", "disconnect");
    },
    mountStatus(element) {
      if (!isElement(element)) {
        throw new TypeError(
          `wsclient.mountStatus(element): expected a DOM element, got ${describe(element)}`,
        );
      }
      return once(call(py, "mountStatus(element)", "mountStatus", element));
    },
    state: store(py, "state"),
    messages: store(py, "messages"),
    health: store(py, "health"),
    sync: store(py, "sync"),
    projects: store(py, "projects"),
    files: store(py, "files"),
    processes: store(py, "processes"),
    /** How many FFI proxies the client holds (a leak check for tests). */
    liveProxies: () => call(py, "liveProxies()", "liveProxies"),
    /** The size of Pyodide's WebAssembly memory in bytes (a memory check for tests: it grows
     * to the most the interpreter ever held and never shrinks). */
    wasmBytes: () => call(py, "wasmBytes()", "wasmBytes"),
    /** How many subscriptions the Python store `name` has now (a leak check for UIs). */
    subscriberCount: (name) => {
      if (!STORE_NAMES.includes(name)) {
        throw new TypeError(
          `wsclient.subscriberCount(name): expected one of ${STORE_NAMES.join(", ")}, ` +
            `got ${describe(name)}`,
        );
      }
      return call(py, "subscriberCount(name)", "subscriberCount", name);
    },
    /** `{count, last}`: how many page callbacks (JS and Python) have thrown, and the latest. */
    callbackErrors: () => JSON.parse(call(py, "callbackErrors()", "callbackErrors")),
  });
}
