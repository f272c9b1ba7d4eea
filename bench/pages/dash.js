// Instrumentation for bench/dashboard.py: injected over CDP (Page.addScriptToEvaluateOnNewDocument)
// into index.html (the dashboard) or embed.html (the README snippet) before their own scripts.
// The harness reads and drives it with Runtime.evaluate only (no Network domain: see
// bench/cdp.py). Per frame it costs one `message` listener that returns at once unless a
// measurement is armed (the same listener the throughput pages have, bench.js).
//
// - arm(): the next project/file/process frame starts the clock (t0, in the socket's listener,
//   which runs before the client's own: it is added in the constructor). The harness then bursts
//   N events and one {"type": "bench.mark", "id": ID}; waitMark(ID) resolves {t0, t1, t2}: t1 when
//   the client's listener for bench.mark ran (every event before it dispatched and applied), t2
//   two animation frames later (the dashboard rendered what the burst changed).
// - probe(kind, key): the next frame containing `key` is stamped on arrival (`arrived`); a
//   MutationObserver on the lists (only while probing) stamps the row for `key` being added (`inDom`: the end of the
//   render that inserted it) and a rAF after that (`painted`). probeResult() resolves those plus
//   every long task (> 50 ms, PerformanceObserver) overlapping [arrived - 100 ms, painted], and
//   performance.timeOrigin (to compare with the harness's wall clock at the server's send).
// - startFlood(seconds, clicks) / stopFlood(): animation frames counted and `clicks` clicks on a
//   plain button (no handler but ours), each a timer task spread over the flood; a click's
//   latency is from its timer being due to the click listener's end (as flood.js).
(() => {
  const d = {
    armed: false,
    t0: 0,
    marks: {},
    waiters: {},
    probe: null,
    longTasks: [],
    flood: null,
  };
  window.__dash = d;
  const EVENT = /^\{"type":"(file|process|project)\./;
  const onFrame = (e) => {
    if (!d.armed && d.probe === null) return;
    const text = e.data;
    if (typeof text !== "string") return;
    const now = performance.now();
    if (d.armed && EVENT.test(text)) {
      d.armed = false;
      d.t0 = now;
    }
    const p = d.probe;
    if (p !== null && p.arrived === 0 && text.includes(p.key)) p.arrived = now;
  };
  const Native = window.WebSocket;
  class StampingWebSocket extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener("message", onFrame);
    }
  }
  window.WebSocket = StampingWebSocket;

  // Time spent in animation-frame callbacks (the dashboard renders there): a diagnostic.
  d.rafMs = 0;
  const nativeRaf = window.requestAnimationFrame.bind(window);
  window.requestAnimationFrame = (callback) =>
    nativeRaf((t) => {
      const s = performance.now();
      try {
        callback(t);
      } finally {
        d.rafMs += performance.now() - s;
      }
    });

  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) d.longTasks.push([e.startTime, e.duration]);
  }).observe({ type: "longtask", buffered: true });

  const nextFrames = (n) =>
    new Promise((resolve) => {
      const step = () => (--n <= 0 ? resolve(performance.now()) : requestAnimationFrame(step));
      requestAnimationFrame(step);
    });

  d.arm = () => {
    d.armed = true;
    d.t0 = 0;
  };
  d.waitMark = (id) =>
    new Promise((resolve) => {
      const done = (t1) =>
        nextFrames(2).then((t2) =>
          resolve({ t0: d.t0, t1, t2, marks: { ...d.marks }, rafMs: d.rafMs }),
        );
      if (d.marks[id] !== undefined) done(d.marks[id]);
      else d.waiters[id] = done;
    });

  const MATCH = {
    file: (node, key) => (node.getAttribute("title") || "").includes(key),
    process: (node, key) => node.getAttribute("data-process") === key,
    project: (node, key) => node.getAttribute("data-project") === key,
  };
  // The lists are observed only while a probe runs: an observer makes Blink record every
  // mutation, a cost the page would not have otherwise.
  let observer = null;
  const observe = (obs) => {
    for (const id of ["projects", "processes", "files"]) {
      const ul = document.getElementById(id);
      if (ul) obs.observe(ul, { childList: true });
    }
  };
  d.probe_ = (kind, key) => {
    d.probe = { kind, key, arrived: 0, inDom: 0, painted: 0, resolve: null };
    observe(observer);
  };
  // Diagnostics (untimed): how many row elements the lists get added while counting.
  let counter = null;
  d.countAdds = (on) => {
    if (on) {
      d.added = { projects: 0, processes: 0, files: 0 };
      counter = new MutationObserver((records) => {
        for (const r of records) d.added[r.target.id] += r.addedNodes.length;
      });
      observe(counter);
    } else if (counter) {
      counter.disconnect();
      counter = null;
    }
    return d.added;
  };
  d.probeResult = () =>
    new Promise((resolve) => {
      const p = d.probe;
      p.resolve = () => {
        // Let the long-task observer hear about the tasks that just ended.
        setTimeout(() => {
          const from = p.arrived - 100;
          const tasks = d.longTasks
            .filter(([s, dur]) => s < p.painted && s + dur > from)
            .map(([s, dur]) => [Math.round(s - p.arrived), Math.round(dur)]);
          d.probe = null;
          observer.disconnect();
          resolve({
            arrived: p.arrived,
            inDom: p.inDom,
            painted: p.painted,
            longTasks: tasks,
            timeOrigin: performance.timeOrigin,
          });
        }, 200);
      };
      if (p.painted) p.resolve();
    });
  const watch = (records) => {
    const p = d.probe;
    if (p === null || p.inDom) return;
    for (const r of records) {
      for (const node of r.addedNodes) {
        if (node.nodeType === 1 && MATCH[p.kind](node, p.key)) {
          p.inDom = performance.now();
          requestAnimationFrame(() => {
            p.painted = performance.now();
            if (p.resolve) p.resolve();
          });
          return;
        }
      }
    }
  };

  d.lists = () => {
    const out = {};
    for (const id of ["projects", "processes", "files"]) {
      const ul = document.getElementById(id);
      if (!ul) continue;
      const footer = ul.nextElementSibling;
      const more =
        footer && footer.classList.contains("list-footer") && !footer.hidden
          ? parseInt(footer.textContent, 10) || 0
          : 0;
      out[id] = { rows: ul.children.length, more, total: ul.children.length + more };
    }
    out.elements = document.getElementsByTagName("*").length;
    return out;
  };

  let button = null;
  d.startFlood = (seconds, clicks) => {
    const f = { frames: 0, clicks: [], started: performance.now(), run: true, tasks0: 0 };
    d.flood = f;
    f.tasks0 = d.longTasks.length;
    const tick = () => {
      if (!f.run) return;
      f.frames += 1;
      requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
    for (let i = 1; i <= clicks; i++) {
      const at = f.started + (seconds * 1000 * i) / (clicks + 1);
      setTimeout(() => {
        f.ran = performance.now();
        f.due = at;
        button.click();
      }, at - f.started);
    }
  };
  d.stopFlood = () => {
    const f = d.flood;
    f.run = false;
    return {
      ms: performance.now() - f.started,
      frames: f.frames,
      clicks: f.clicks,
      longTasks: d.longTasks.slice(f.tasks0).map(([, dur]) => Math.round(dur)),
    };
  };

  addEventListener("DOMContentLoaded", () => {
    observer = new MutationObserver(watch);
    button = document.createElement("button");
    button.type = "button";
    button.id = "bench-click";
    button.textContent = "bench";
    button.addEventListener("click", () => {
      const f = d.flood;
      const end = performance.now();
      if (f) f.clicks.push([Math.max(0, f.ran - f.due), end - f.ran]);
    });
    document.body.append(button);
  });
  addEventListener("wsclient:ready", () => {
    const ws = window.wsclient;
    ws.on("bench.mark", (m) => {
      const t1 = performance.now();
      d.marks[m.id] = t1;
      const done = d.waiters[m.id];
      if (done) {
        delete d.waiters[m.id];
        done(t1);
      }
    });
    ws.state.subscribe((s) => {
      if (s.status === "connected") ws.send({ type: "bench.ready" });
    });
  });
})();
