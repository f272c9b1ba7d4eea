// node --test tests/js: the frame pump's batching, with a fake clock and fake task queues.
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  MAX_BATCH,
  MAX_BATCH_CHARS,
  MIN_BATCH,
  SEPARATOR,
  YIELD_MS,
  createPump,
  frameItem,
} from "../../static/transport.js";

/** A pump on a fake event loop: `soon` and `later` queues that the test runs by hand. */
function fakePump({ costPerFrame = 0 } = {}) {
  const clock = { t: 0 };
  const soon = [];
  const later = [];
  const batches = [];
  const pump = createPump(
    (batch) => {
      batches.push(batch);
      const n = typeof batch === "string" ? batch.split(SEPARATOR).length : batch.length;
      clock.t += n * costPerFrame;
    },
    { now: () => clock.t, soon: (fn) => soon.push(fn), later: (fn) => later.push(fn) },
  );
  const runAll = () => {
    while (soon.length || later.length) (soon.shift() || later.shift())();
  };
  return { pump, clock, soon, later, batches, runAll };
}

const frames = (batch) => (typeof batch === "string" ? batch.split(SEPARATOR) : batch);

test("text frames cross as one joined string, in order", () => {
  const { pump, batches, runAll } = fakePump();
  pump.push('{"type":"a"}');
  pump.push('{"type":"b"}');
  assert.equal(batches.length, 0, "nothing is delivered inside the message handler below a batch");
  runAll();
  assert.deepEqual(batches, ['{"type":"a"}' + SEPARATOR + '{"type":"b"}']);
});

test("a binary frame or a frame holding the separator makes the batch an array", () => {
  const { pump, batches, runAll } = fakePump();
  pump.push("a");
  pump.push(42);
  pump.push("x" + SEPARATOR + "y");
  runAll();
  assert.deepEqual(batches, [["a", 42, "x" + SEPARATOR + "y"]]);
});

test("a full batch is delivered in the handler itself, not after a hop", () => {
  const { pump, batches, soon, later } = fakePump();
  for (let i = 0; i < 4 * MAX_BATCH; i++) pump.push(String(i));
  assert.ok(batches.length >= 4, `only ${batches.length} batches were delivered in the handler`);
  assert.ok(batches.every((b) => frames(b).length <= MAX_BATCH));
  assert.ok(pump.pending < MAX_BATCH, "no full batch waits for a hop");
  assert.equal(soon.length + later.length, 1, "the rest waits for one hop");
});

test("slow frames make smaller batches, never below MIN_BATCH", () => {
  const { pump, batches, runAll } = fakePump({ costPerFrame: 1 });
  for (let i = 0; i < 2000; i++) pump.push(String(i));
  runAll();
  const sizes = batches.map((b) => frames(b).length);
  assert.equal(sizes.reduce((a, b) => a + b, 0), 2000);
  assert.ok(sizes.at(-2) <= MIN_BATCH + 1, `batch sizes did not shrink: ${sizes}`);
  assert.ok(Math.min(...sizes) >= 1);
  assert.ok(sizes.slice(0, -1).every((n) => n >= MIN_BATCH), `${sizes}`);
});

test("every frame is delivered exactly once and in order", () => {
  const { pump, batches, runAll } = fakePump({ costPerFrame: 0.05 });
  for (let i = 0; i < 5000; i++) pump.push(String(i));
  runAll();
  assert.deepEqual(batches.flatMap(frames), Array.from({ length: 5000 }, (_, i) => String(i)));
});

test("after YIELD_MS of hops the next batch waits in the timer queue", () => {
  const { pump, clock, soon, later } = fakePump();
  pump.push("a");
  assert.equal(soon.length, 1);
  soon.shift()();
  clock.t += YIELD_MS;
  pump.push("b");
  assert.equal(soon.length, 0);
  assert.equal(later.length, 1);
});

test("a text frame over the frame limit is queued as minus its length, not as text", () => {
  assert.equal(frameItem("x".repeat(10), 10), "x".repeat(10));
  assert.equal(frameItem("x".repeat(11), 10), -11);
  assert.equal(frameItem("x".repeat(11), Infinity), "x".repeat(11));
  assert.equal(frameItem(new ArrayBuffer(7), 1), 7); // binary: its size, whatever the limit
  assert.equal(frameItem(new ArrayBuffer(0), 1), 0);
  const { pump, batches, runAll } = fakePump();
  const limit = 16;
  for (const data of ['{"type":"a"}', "y".repeat(40), '{"type":"b"}']) {
    pump.push(frameItem(data, limit));
  }
  runAll();
  // The oversized frame's text never reaches deliver: only its length, as a negative number.
  assert.deepEqual(batches, [['{"type":"a"}', -40, '{"type":"b"}']]);
});

test("a batch holds at most MAX_BATCH_CHARS characters, and always at least one frame", () => {
  const { pump, batches, runAll } = fakePump();
  const big = "b".repeat(MAX_BATCH_CHARS / 4 + 1); // four of them are over the cap
  const huge = "h".repeat(2 * MAX_BATCH_CHARS); // alone over the cap
  const sent = [];
  for (let i = 0; i < 16; i++) sent.push(big);
  sent.push("s1", huge, "s2", -5, 9);
  for (const frame of sent) pump.push(frame);
  runAll();
  const chars = (batch) =>
    frames(batch).reduce((n, f) => n + (typeof f === "string" ? f.length : 0), 0);
  assert.deepEqual(batches.flatMap(frames), sent, "every frame once, in order");
  for (const batch of batches) {
    assert.ok(frames(batch).length >= 1);
    assert.ok(
      chars(batch) <= MAX_BATCH_CHARS || frames(batch).length === 1,
      `a batch of ${frames(batch).length} frames and ${chars(batch)} characters`,
    );
  }
  // Three big frames fit under the cap, four do not: the sixteen cross in six batches (the
  // last with "s1"); the huge frame crosses alone; the small ones after it together.
  assert.deepEqual(
    batches.map((b) => frames(b).length),
    [3, 3, 3, 3, 3, 2, 1, 3],
  );
  assert.deepEqual(frames(batches[6]), [huge]);
});

test("frames of a full batch of characters are delivered in the handler, not after a hop", () => {
  const { pump, batches } = fakePump();
  pump.push("c".repeat(MAX_BATCH_CHARS));
  assert.equal(batches.length, 1, "MAX_BATCH_CHARS queued: delivered at once");
  pump.push("a");
  pump.push("d".repeat(MAX_BATCH_CHARS));
  assert.equal(batches.length, 2);
  assert.deepEqual(frames(batches[1]), ["a"], "the frame that fits goes first, alone");
  assert.equal(pump.pending, 1, "the big frame waits for the next hop");
});

test("flush delivers everything now; clear forgets it", () => {
  const { pump, batches } = fakePump();
  pump.push("a");
  pump.flush();
  assert.deepEqual(batches, ["a"]);
  pump.push("b");
  pump.clear();
  pump.flush();
  assert.equal(pump.pending, 0);
  assert.deepEqual(batches, ["a"]);
});
