// The story's `$stores/websocket` module, backed by the Python client (window.wsclient,
// docs/protocol.md): the same names, and every store is one of Python's. The page's import map
// resolves the bare specifier "$stores/websocket" to this file; its types are websocket.d.ts.
//
// It can be imported at once, before Python is up (a Svelte app mounts on load). Until the
// `wsclient:ready` event its stores hold what is true then (the state is `connecting`, nothing
// is subscribed, no message has come) and getWebSocketClient() gives a client that keeps the
// calls made meanwhile and carries them out in order once the client is ready. From then on each
// store forwards Python's: a subscriber sees Python's values, never the initial one again.
import { derived, readable } from "svelte/store";

/** The real client, once Python has published it. */
const real = () => window.wsclient;

// What waits for the client: started stores and early calls, in the order they came.
const waiting = [];

/** Run `fn(client)` now if the client is ready, else when it is (in order with the others). */
function whenReady(fn) {
  const client = real();
  if (client !== undefined) fn(client);
  else waiting.push(fn);
}

if (real() === undefined) {
  window.addEventListener(
    "wsclient:ready",
    () => {
      const client = real();
      for (const fn of waiting.splice(0)) {
        try {
          fn(client);
        } catch (err) {
          // An early call that fails now has nobody to throw to: report it like an uncaught
          // error of an event listener.
          reportError(err);
        }
      }
    },
    { once: true },
  );
}

/** A store that holds `initial` until the client is ready, then forwards Python's store `name`
 * (subscribed while this store has subscribers). The first value from Python replaces `initial`
 * only if it differs, so a subscriber is not told the same state twice. */
function forwarded(name, initial) {
  return readable(initial, (set) => {
    let stop = null;
    let first = true;
    let ended = false;
    whenReady((client) => {
      if (ended) return;
      stop = client[name].subscribe((value) => {
        if (first) {
          first = false;
          if (JSON.stringify(value) === JSON.stringify(initial)) return;
        }
        set(value);
      });
    });
    return () => {
      ended = true;
      if (stop !== null) stop();
    };
  });
}

/** `{status, reconnectAttempts, error}`: the story's WebSocketState, kept by Python. */
export const wsState = forwarded("state", { status: "connecting", reconnectAttempts: 0, error: null });

/** The last 100 messages, oldest first (plain objects as JSON.parse gives them). */
export const wsMessages = forwarded("messages", []);

/** `{projectId: "live" | "recovering" | "reset" | "stale"}` (protocol v2). */
export const wsSync = forwarded("sync", {});

/** The connection's health (attempt, next retry, last close, round trip, queue...). */
export const wsHealth = forwarded("health", {
  status: "connecting",
  attempt: 0,
  nextRetryAt: null,
  lastCloseCode: null,
  lastCloseReason: "",
  error: null,
  rtt: null,
  queueDepth: 0,
  queueOverflow: 0,
  offline: !navigator.onLine,
  protocol: 0,
  duplicates: 0,
  rttSamples: 0,
});

// The domain stores: Python applies every project event, snapshot and replay to them (the rules
// of docs/protocol.md), so a component only renders them. They hold the subscribed projects
// (wsclient.subscribe(projectId); a project's entries go when its last subscriber leaves), and a
// project without data, files or processes has no entry: read them as `$wsFiles[id] ?? {}`.

/** `{projectId: data}`: each project's `data` object from `project.created`/`updated`. */
export const wsProjects = forwarded("projects", {});

/** `{projectId: {path: {name, path, size, asset_type}}}`. */
export const wsFiles = forwarded("files", {});

/** `{projectId: {processId: {project_id, process_id, status, progress, message}}}`;
 * `status` is "running" or "completed", `progress` 0..1. */
export const wsProcesses = forwarded("processes", {});

/** The story's derived store, made by svelte/store's own `derived`. */
export const isConnected = derived(wsState, ($state) => $state.status === "connected");

const notReady = (method) =>
  new Error(`wsclient.${method}: the client is not ready yet; wait for the 'wsclient:ready' event`);

const mustBeFunction = (method, value) => {
  if (typeof value !== "function") {
    throw new TypeError(`wsclient.${method}: expected a function, got ${typeof value}`);
  }
};

/** A JSON snapshot of `message` taken now (as the client's send does), or the TypeError. */
const snapshot = (method, message) => {
  let text;
  try {
    text = JSON.stringify(message);
  } catch (err) {
    throw new TypeError(`wsclient.${method}: cannot send this value as JSON: ${err.message}`);
  }
  if (text === undefined) {
    throw new TypeError(`wsclient.${method}: expected a value JSON can hold, got ${typeof message}`);
  }
  return text;
};

/** A promise that settles as `start(client)`'s does, started when the client is ready. */
const deferredCall = (start) =>
  new Promise((resolve, reject) => {
    waiting.push((client) => {
      try {
        start(client).then(resolve, reject);
      } catch (err) {
        reject(err);
      }
    });
  });

/** A remover that works before and after the client is ready. */
const deferredRemover = (start) => {
  let remove = null;
  let removed = false;
  waiting.push((client) => {
    if (!removed) remove = start(client);
  });
  return () => {
    removed = true;
    if (remove !== null) {
      const fn = remove;
      remove = null;
      fn();
    }
  };
};

/** The client until it is ready: every call is kept and carried out, in order, once it is
 * (calls after that go straight to window.wsclient). */
const early = Object.freeze({
  send(message) {
    if (real()) return real().send(message);
    const text = snapshot("send(message)", message);
    waiting.push((client) => client.send(JSON.parse(text)));
  },
  request(message, options) {
    if (real()) return real().request(message, options);
    const text = snapshot("request(message)", message);
    return deferredCall((client) => client.request(JSON.parse(text), options));
  },
  pending() {
    if (real()) return real().pending();
    throw notReady("pending()");
  },
  wait(id) {
    if (real()) return real().wait(id);
    return deferredCall((client) => client.wait(id));
  },
  subscribe(projectId) {
    whenReady((client) => client.subscribe(projectId));
  },
  unsubscribe(projectId) {
    whenReady((client) => client.unsubscribe(projectId));
  },
  on(type, callback) {
    if (real()) return real().on(type, callback);
    if (typeof type !== "string") {
      throw new TypeError(`wsclient.on(type, callback): expected a type string, got ${typeof type}`);
    }
    mustBeFunction("on(type, callback)", callback);
    return deferredRemover((client) => client.on(type, callback));
  },
  connect() {
    whenReady((client) => client.connect());
  },
  disconnect() {
    whenReady((client) => client.disconnect());
  },
  mountStatus(element) {
    if (real()) return real().mountStatus(element);
    return deferredRemover((client) => client.mountStatus(element));
  },
  setAuth(provider) {
    whenReady((client) => client.setAuth(provider));
  },
  callbackErrors() {
    return real() ? real().callbackErrors() : { count: 0, last: null };
  },
  state: wsState,
  messages: wsMessages,
  health: wsHealth,
  sync: wsSync,
  projects: wsProjects,
  files: wsFiles,
  processes: wsProcesses,
  debug: Object.freeze({
    liveProxies: () => (real() ? real().debug.liveProxies() : 0),
    wasmBytes() {
      if (real()) return real().debug.wasmBytes();
      throw notReady("debug.wasmBytes()");
    },
    subscriberCount: (name) => (real() ? real().debug.subscriberCount(name) : 0),
  }),
});

/** The story's accessor: the client, usable at once (see above). */
export function getWebSocketClient() {
  return early;
}

/** The story's set-up call: the Python client connects by itself on load, so this only gives
 * the client (as getWebSocketClient()). */
export function setupWebSocket() {
  return early;
}
