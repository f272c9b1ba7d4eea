// The transport: the part of the browser adapter (src/wsclient/port.py) that runs per frame
// without crossing into Python. It opens the WebSocket and collects its frames, handing them to
// Python in batches: one FFI call per batch instead of one per frame. Python owns every decision.

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

