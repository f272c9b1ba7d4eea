// A TypeScript app on window.wsclient, using every method and store of static/wsclient.d.ts;
// `tsc --noEmit --strict` checks it (make test; tests/js/types.test.mjs). It is never run.
import type {
  AuthProvider,
  FileEvent,
  Health,
  ProcessEvent,
  ProjectEvent,
  WSClient,
  WSMessage,
  WebSocketState,
} from "../../static/wsclient.js";
import { get, derived } from "svelte/store";

const auth: AuthProvider = async ({ reason, attempt }) =>
  reason === "refresh" || attempt < 3 ? "token" : null;
window.wsclientAuth = auth;

window.addEventListener("wsclient:ready", async () => {
  const ws: WSClient | undefined = window.wsclient;
  if (ws === undefined) return;

  ws.subscribe("alpha");
  ws.unsubscribe("alpha");
  ws.send({ type: "chat.message", text: "hi" });
  ws.connect();
  ws.disconnect();
  ws.setAuth(auth);
  ws.setAuth(null);

  const offFile = ws.on("file.uploaded", (e: FileEvent) => console.log(e.file.name, e.file.size));
  const offProject = ws.on("project.updated", (e: ProjectEvent) => console.log(e.project_id, e.data));
  const offProcess = ws.on("process.progress", (e: ProcessEvent) => console.log(e.progress ?? 0));
  ws.on("system.heartbeat", (e) => console.log(e.timestamp));
  ws.on("hello", (e) => console.log(e.protocol));
  ws.on("subscribed", (e) => console.log(e.epoch, e.offset, e.recovered));
  ws.on("project.snapshot", (e) => console.log(e.files.map((f) => f.path), e.processes.length));
  ws.on("ack", (e) => console.log(e.ok ? e.data : e.error));
  ws.on("resync", ({ project_id }) => console.log(project_id));
  ws.on("chat.message", (e: WSMessage) => console.log(e.type, e["text"]));
  offFile();
  offProject();
  offProcess();

  const saved = await ws.request<{ saved: boolean }>({ type: "save", doc: 1 }, { timeout: 5000 });
  console.log(saved.saved);
  for (const { id, message } of ws.pending()) console.log(id, message, await ws.wait(id));

  const unmount: () => void = ws.mountStatus(document.body);
  unmount();
  const errors = ws.callbackErrors();
  console.log(errors.count, errors.last);
  console.log(ws.debug.liveProxies(), ws.debug.wasmBytes(), ws.debug.subscriberCount("files"));

  const state: WebSocketState = get(ws.state);
  console.log(state.status === "reconnecting" ? state.reconnectAttempts : state.error);
  const health: Health = get(ws.health);
  console.log(health.rtt, health.queueDepth, health.role, health.tabs);
  const stop = ws.messages.subscribe((list) => console.log(list.length), () => {});
  stop();
  console.log(get(ws.sync)["alpha"] === "live");
  console.log(Object.keys(get(ws.projects)));
  const names = derived(ws.files, ($files) => Object.values($files["alpha"] ?? {}).map((f) => f.name));
  console.log(get(names));
  const running = derived(ws.processes, ($p) =>
    Object.values($p["alpha"] ?? {}).filter((p) => p.status === "running").length,
  );
  console.log(get(running));
});
