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

/** The story's derived store, made by svelte/store's own `derived` over the Python store. */
export const isConnected = derived(wsState, ($state) => $state.status === "connected");

/** The story's accessor: here the client always exists once this module is loaded. */
export function getWebSocketClient() {
  return client;
}
