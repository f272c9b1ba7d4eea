// Shared by the throughput pages (a classic script, so it runs before the page's modules).
// The harness drives a page only through its WebSocket, never through DevTools: with a DevTools
// client attached (Playwright enables the Network domain), Chromium copies every WebSocket frame
// to it, which costs more than the handlers being measured.
//
// The protocol: the server sends {"type": "bench.arm", "n": N}, then N `process.progress` frames.
// The clock starts when the socket receives the first `process.progress` frame after the arm (one
// `message` listener, the same on every variant) and stops when the page's own listener counts the
// N-th message and calls `finish()`, which sends {"type": "bench.result", n, t0, t1} back.
(() => {
  const bench = {
    armed: false,
    t0: 0,
    send: null, // set by the page: sends a plain object over its socket
    finish(n) {
      const t1 = performance.now();
      this.send({ type: "bench.result", n, t0: this.t0, t1 });
    },
  };
  window.__bench = bench;
  const Native = window.WebSocket;
  const stamp = (e) => {
    const d = e.data;
    if (typeof d !== "string") return;
    if (bench.armed) {
      if (d.includes("process.progress")) {
        bench.armed = false;
        bench.t0 = performance.now();
      }
    } else if (d.includes('"bench.arm"')) {
      bench.armed = true;
    }
  };
  class StampingWebSocket extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener("message", stamp);
    }
  }
  window.WebSocket = StampingWebSocket;
})();
