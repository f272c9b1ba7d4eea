// node --test tests/js: the frame pump's batching, with a fake clock and fake task queues.
import assert from "node:assert/strict";
import { test } from "node:test";

import { MAX_BATCH, MIN_BATCH, SEPARATOR, YIELD_MS, createPump, once } from "../../static/wsclient.js";

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

test("once calls its function the first time only", () => {
  let calls = 0;
  const off = once(() => (calls += 1));
  off();
  off();
  assert.equal(calls, 1);
});
