// The UI-under-a-flood instrumentation, shared by flood.html (our dashboard) and
// flood-native.html (a plain-JS dashboard: the baseline). Protocol with the harness, over the
// page's own socket:
// server -> {"type": "bench.arm", "seconds": S, "clicks": N}: count feed renders and animation
//           frames, and click the page's button N times, evenly spread over the S seconds (each a
//           timer task queued behind the flood);
// server -> {"type": "bench.stop"}: send {"type": "bench.result", renders, frames, clicks, ms,
//           longTasks}.
// A click's latency is from the moment its timer was due to the end of the page's handler (a
// listener added after the page's runs after it), so it includes the wait behind queued work.
// Timer tasks rank below input in Chromium's scheduler: this is pessimistic.
//
// `api`: { on(type, callback), send(object), onConnected(callback) }, the page's client.
export function instrument(win, api, feed, button) {
  const m = { renders: 0, frames: 0, clicks: [], run: false, started: 0, longTasks: [] };
  new win.MutationObserver((records) => {
    if (m.run) m.renders += records.length;
  }).observe(feed, { childList: true });
  const tick = () => {
    if (m.run) m.frames += 1;
    win.requestAnimationFrame(tick);
  };
  win.requestAnimationFrame(tick);
  // Each click: [from its timer being due to the timer running (the wait behind queued work),
  // from the timer running to the end of the page's handler].
  let due = 0;
  let ran = 0;
  button.addEventListener("click", () => {
    const end = win.performance.now();
    // Timers may fire a little before they are due: a negative wait is no wait.
    m.clicks.push([Math.max(0, ran - due), end - ran]);
  });
  // The page's long tasks (> 50 ms) during the flood, to tell what a slow click waited on.
  new win.PerformanceObserver((list) => {
    if (m.run) for (const e of list.getEntries()) m.longTasks.push(Math.round(e.duration));
  }).observe({ type: "longtask" });
  api.on("bench.arm", (msg) => {
    m.run = true;
    m.started = win.performance.now();
    const clicks = msg.clicks || 5;
    for (let i = 1; i <= clicks; i++) {
      const at = m.started + (msg.seconds * 1000 * i) / (clicks + 1);
      win.setTimeout(() => {
        ran = win.performance.now();
        due = at;
        button.click();
      }, at - m.started);
    }
  });
  api.on("bench.stop", () => {
    m.run = false;
    const ms = win.performance.now() - m.started;
    const { renders, frames, clicks, longTasks } = m;
    api.send({ type: "bench.result", renders, frames, clicks, ms, longTasks });
  });
  api.onConnected(() => api.send({ type: "bench.ready" }));
}
