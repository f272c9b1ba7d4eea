// The v2 recovery bench (bench/v2.py), over the page's own socket (no DevTools attached):
// server -> {"type": "bench.arm", "project": p, "expect": "live" | "reset"}: subscribe to p and,
//           once its first snapshot made it `live`, send {"type": "bench.subscribed", project}.
// The harness then drops the connection, refuses reconnects, emits the missed events (or
// trims the history so that a snapshot must come), and lets the client back in. The clock runs
// from the new socket's `open` event to the `sync` store showing p as `expect` after
// `recovering` ("live": the replay is through; "reset": the snapshot is applied). Then the page
// reads the `messages` store once (after the clock) for the highest offset of p it holds, sends
// {"type": "bench.result", project, open, done, offset, statuses}, and unsubscribes p.
// The only per-frame work added is nothing: one `open` listener per socket and one `sync`
// subscriber (the store publishes once per batch, when a status changes).
(() => {
  const Native = window.WebSocket;
  let openedAt = 0;
  class StampingWebSocket extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener("open", () => {
        openedAt = performance.now();
      });
    }
  }
  window.WebSocket = StampingWebSocket;
  addEventListener("wsclient:ready", () => {
    const ws = window.wsclient;
    let run = null;
    const finish = (done) => {
      const r = run;
      run = null;
      let window_ = [];
      ws.messages.subscribe((v) => (window_ = v))();
      const offsets = window_
        .filter((m) => m.project_id === r.project && typeof m.offset === "number")
        .map((m) => m.offset);
      ws.send({
        type: "bench.result",
        project: r.project,
        open: r.open,
        done,
        offset: offsets.length ? Math.max(...offsets) : null,
        statuses: r.statuses,
      });
      ws.unsubscribe(r.project);
    };
    ws.sync.subscribe((statuses) => {
      if (!run) return;
      const status = statuses[run.project];
      if (status === undefined) return;
      run.statuses.push(status);
      if (run.phase === "subscribing" && status === "live") {
        run.phase = "armed";
        run.statuses = [];
        ws.send({ type: "bench.subscribed", project: run.project });
      } else if (run.phase === "armed" && status === "recovering") {
        run.phase = "recovering";
        run.open = openedAt;
      } else if (run.phase === "recovering" && status === run.expect) {
        finish(performance.now());
      }
    });
    ws.on("bench.arm", (msg) => {
      run = { project: msg.project, expect: msg.expect, phase: "subscribing", statuses: [] };
      ws.subscribe(msg.project);
    });
    ws.state.subscribe((s) => {
      if (s.status === "connected") ws.send({ type: "bench.ready" });
    });
  });
})();
