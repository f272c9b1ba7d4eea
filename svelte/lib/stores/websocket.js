// The story's `$stores/websocket` module, backed by the Python client: the same names, but every
// store is one of Python's (window.wsclient, docs/protocol.md). The page's import map resolves
// the bare specifier "$stores/websocket" to this file. Import it only after `wsclient:ready`
// (svelte/main.js imports the components, and so this module, from that event).
import { derived } from "svelte/store";

const client = window.wsclient;
if (client === undefined) {
  throw new Error(
    "$stores/websocket was imported before window.wsclient exists: import the components " +
      "after the 'wsclient:ready' event",
  );
}

/** `{status, reconnectAttempts, error}`: the story's WebSocketState, kept by Python. */
export const wsState = client.state;

/** The last 100 messages, oldest first (plain objects as JSON.parse gives them). */
export const wsMessages = client.messages;

/** `{projectId: "live" | "recovering" | "reset" | "stale"}` (protocol v2). */
export const wsSync = client.sync;

/** The connection's health (attempt, next retry, last close, round trip, queue...). */
export const wsHealth = client.health;

// The domain stores: Python applies every project event, snapshot and replay to them (the rules
// of docs/protocol.md), so a component only renders them. They hold the subscribed projects
// (wsclient.subscribe(projectId); a project's entries go when its last subscriber leaves), and a
// project without data, files or processes has no entry: read them as `$wsFiles[id] ?? {}`.

/** `{projectId: data}`: each project's `data` object from `project.created`/`updated`. */
export const wsProjects = client.projects;

/** `{projectId: {path: {name, path, size, asset_type}}}`. */
export const wsFiles = client.files;

/** `{projectId: {processId: {project_id, process_id, status, progress, message}}}`;
 * `status` is "running" or "completed", `progress` 0..1. */
export const wsProcesses = client.processes;

/** The story's derived store, made by svelte/store's own `derived` over the Python store. */
export const isConnected = derived(wsState, ($state) => $state.status === "connected");

/** The story's accessor: here the client always exists once this module is loaded. */
export function getWebSocketClient() {
  return client;
}
