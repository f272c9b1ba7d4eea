// The JavaScript baselines' message handler: the same work shape as the Python client's hot path.
// JSON.parse, a shape check, a bounded window of the last 100 messages, a process map for the
// process.* types, then the listeners registered for the message's type.
export function makeHandler() {
  const listeners = new Map();
  const messages = [];
  const processes = new Map();
  let dropped = 0;
  const bench = window.__bench;
  let count = 0;
  let target = 0;
  listeners.set("bench.arm", [
    (m) => {
      count = 0;
      target = m.n;
    },
  ]);
  listeners.set("process.progress", [
    () => {
      if (++count === target) bench.finish(target);
    },
  ]);
  return (text) => {
    let m;
    try {
      m = JSON.parse(text);
    } catch (err) {
      dropped++;
      return;
    }
    if (m === null || typeof m !== "object" || typeof m.type !== "string") {
      dropped++;
      return;
    }
    messages.push(m);
    if (messages.length > 100) messages.shift();
    if (m.type.startsWith("process.")) {
      processes.set(m.process_id, {
        project_id: m.project_id,
        status: m.type === "process.completed" ? "completed" : "running",
        progress: m.progress,
        message: m.message,
      });
    }
    const ls = listeners.get(m.type);
    if (ls !== undefined) for (const l of ls) l(m);
  };
}

export function wsUrl() {
  const params = new URLSearchParams(location.search);
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return params.get("ws") || `${scheme}//${location.host}/ws`;
}

export function showConnected(ws) {
  window.__bench.send = (obj) => ws.send(JSON.stringify(obj));
  ws.send(JSON.stringify({ type: "bench.ready" }));
  const el = document.getElementById("status");
  el.textContent = "Connected";
  el.setAttribute("data-status", "connected");
}
