// The page API: `window.wsclient` (docs/protocol.md), built by createClient around `py`, the small
// bridge src/wsclient/bridge.py makes.
//
// Everything a JS developer touches is JavaScript: arguments are checked here (TypeError for a
// wrong argument, naming the method; Error for other misuse), messages are serialized with
// JSON.stringify and values arrive as JSON.parse gives them, requests are Promises, removers can be
// called twice, and a callback that throws is reported once and changes nothing else. Python gets
// JSON text and plain strings through `py`; an error raised there reaches the caller as a one-line
// Error naming the method (a TypeError if Python raised one), without the Python exception's class
// or traceback (the traceback goes to console.debug).
//
// Each rule has one home. The limits (the outbox's byte bound, the deepest nesting, the longest
// request timeout, the default one) and the names of the stores are Python's: the bridge hands
// them over as data when the client is made (`py.limits()`, `py.storeNames()`). The nesting of
// a message is measured in Python, which must measure server frames anyway; what a message over
// the byte bound is told is Python's text too (`py.tooLarge(size)`).

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

/** A project id's type; Python holds its rules (not blank, trimmed). */
const projectId = (method, value) => {
  if (typeof value !== "string") {
    throw new TypeError(
      `wsclient.${method}(projectId): expected a non-empty string, got ${describe(value)}`,
    );
  }
  return value;
};

const callback = (method, value) => {
  if (typeof value !== "function") {
    throw new TypeError(`wsclient.${method}: expected a function, got ${describe(value)}`);
  }
  return value;
};

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

/** Whether a Python exception is a TypeError (a wrong argument, in Python's judgement too). */
const pythonTypeError = (err) => {
  const lines = errorText(err).split("\n").filter((line) => line.trim());
  return lines.length > 0 && lines[lines.length - 1].trim().startsWith("TypeError: ");
};

/** Calls `py[name](...args)`; a Python error becomes a one-line Error (a TypeError for Python's
 * TypeError) naming `method`, and its whole traceback goes to the console at debug level (for
 * whoever debugs the client). */
const call = (py, method, name, ...args) => {
  try {
    return py[name](...args);
  } catch (err) {
    try {
      console.debug(`wsclient.${method} failed in Python:\n${errorText(err)}`);
    } catch (_) {
      // No console: the Error below still says what went wrong.
    }
    const Kind = pythonTypeError(err) ? TypeError : Error;
    throw new Kind(`wsclient.${method}: ${pythonMessage(err)}`);
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
 * Python checks the exact size of those. Either way the words are Python's (`py.tooLarge`). */
const checkSize = (py, method, text, maxQueueBytes) => {
  if (text.length > maxQueueBytes) {
    throw new Error(`wsclient.${method}: ${call(py, method, "tooLarge", utf8Length(text))}`);
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

/** Settle `d` when Python says the request `id` is over; what is wrong if Python has no such
 * request (else null). */
const settleWhenDone = (py, method, id, d) =>
  call(py, method, "watch", id, (ok, dataText, error) => {
    if (ok) d.resolve(dataText === undefined || dataText === null ? undefined : JSON.parse(dataText));
    else d.reject(new Error(error));
  });

/** What the bridge hands over once, when the client is made: Python's limits and store names. */
const settings = (py) => {
  const limits = Object.freeze(JSON.parse(call(py, "createClient", "limits")));
  const storeNames = Object.freeze(JSON.parse(call(py, "createClient", "storeNames")));
  return { limits, storeNames };
};

/** Build window.wsclient around the Python bridge `py`. */
export function createClient(py) {
  // The client's options do not change once it runs: read the limits once.
  const { limits, storeNames } = settings(py);
  const stores = Object.fromEntries(storeNames.map((name) => [name, store(py, name)]));
  return Object.freeze({
    send(message) {
      const text = encode("send(message)", message);
      checkSize(py, "send(message)", text, limits.maxQueueBytes);
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
      // Python holds the rules for the value (a JSON object without an 'id', the timeout's range).
      const timeout = options?.timeout;
      if (timeout !== undefined && typeof timeout !== "number") {
        throw new TypeError(
          "wsclient.request(message, {timeout}): expected a number of milliseconds, " +
            `got ${describe(timeout)}`,
        );
      }
      const text = encode("request(message)", message);
      checkSize(py, "request(message)", text, limits.maxQueueBytes);
      const d = deferred();
      const id = call(py, "request(message)", "request", text, timeout);
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
      const missing = settleWhenDone(py, "wait(id)", id, d);
      if (missing) d.reject(new Error(`wsclient.wait(id): ${missing}`));
      return d.promise;
    },
    subscribe(project) {
      call(py, "subscribe(projectId)", "subscribe_project", projectId("subscribe", project));
    },
    unsubscribe(project) {
      call(py, "unsubscribe(projectId)", "unsubscribe_project", projectId("unsubscribe", project));
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
    setAuth(provider) {
      if (provider !== null && typeof provider !== "function") {
        throw new TypeError(
          "wsclient.setAuth(provider): expected a function returning the token " +
            `(or null to connect without one), got ${describe(provider)}`,
        );
      }
      call(py, "setAuth(provider)", "setAuth", provider);
    },
    mountStatus(element) {
      if (!isElement(element)) {
        throw new TypeError(
          `wsclient.mountStatus(element): expected a DOM element, got ${describe(element)}`,
        );
      }
      return once(call(py, "mountStatus(element)", "mountStatus", element));
    },
    ...stores,
    /** `{count, last}`: how many page callbacks (JS and Python) have thrown, and the latest. */
    callbackErrors: () => JSON.parse(call(py, "callbackErrors()", "callbackErrors")),
    /** What tests and leak checks read; not part of the API an app builds on. */
    debug: Object.freeze({
      /** How many FFI proxies the client holds. */
      liveProxies: () => call(py, "debug.liveProxies()", "liveProxies"),
      /** The size of Pyodide's WebAssembly memory in bytes (it grows to the most the
       * interpreter ever held and never shrinks). */
      wasmBytes: () => call(py, "debug.wasmBytes()", "wasmBytes"),
      /** How many subscriptions the Python store `name` has now. */
      subscriberCount: (name) => {
        if (!storeNames.includes(name)) {
          throw new TypeError(
            `wsclient.debug.subscriberCount(name): expected one of ${storeNames.join(", ")}, ` +
              `got ${describe(name)}`,
          );
        }
        return call(py, "debug.subscriberCount(name)", "subscriberCount", name);
      },
    }),
  });
}
