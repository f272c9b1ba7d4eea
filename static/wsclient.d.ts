// Types of the page API: `window.wsclient` (static/api.js, published by src/wsclient/bridge.py
// with the `wsclient:ready` event), its stores and the messages it delivers (docs/protocol.md).
// tests/js/types.test.mjs checks that the methods and stores declared here are exactly those the
// runtime object has.

// --- stores ------------------------------------------------------------------------------------

/** Called with each new value of a store. */
export type Subscriber<T> = (value: T) => void;
/** Ends a subscription; may be called more than once. */
export type Unsubscriber = () => void;

/** Svelte's store contract (`svelte/store`'s `Readable<T>`): `run` is called at once with the
 * current value, then with every change; `$store`, `get` and `derived` work on it. */
export interface Readable<T> {
  subscribe(run: Subscriber<T>, invalidate?: () => void): Unsubscriber;
}

// --- messages ----------------------------------------------------------------------------------

/** Any message from the server: a string `type`, an ISO-8601 `timestamp`, and its other fields
 * as `JSON.parse` gives them. */
export interface WSMessage {
  type: string;
  timestamp: string;
  [key: string]: unknown;
}

/** `data` of a project: an object whose fields the app defines. */
export type ProjectData = { [key: string]: unknown };

export interface ProjectEvent extends WSMessage {
  type: "project.created" | "project.updated" | "project.deleted";
  project_id: string;
  data: ProjectData;
  /** Its position in the project's stream (protocol v2). */
  offset?: number;
}

/** A file as `file.*` events and snapshots carry it. */
export interface FileInfo {
  name: string;
  path: string;
  size: number;
  asset_type: string;
}

export interface FileEvent extends WSMessage {
  type: "file.uploaded" | "file.deleted";
  project_id: string;
  file: FileInfo;
  offset?: number;
}

export interface ProcessEvent extends WSMessage {
  type: "process.started" | "process.progress" | "process.completed";
  project_id: string;
  process_id: string;
  /** 0..1; a missing one keeps the previous value. */
  progress?: number;
  message?: string;
  offset?: number;
}

export interface HeartbeatMessage extends WSMessage {
  type: "system.heartbeat";
}

/** A v2 server's first frame on every connection. */
export interface HelloMessage extends WSMessage {
  type: "hello";
  protocol: number;
}

/** A v2 server's answer to a subscribe. */
export interface SubscribedMessage extends WSMessage {
  type: "subscribed";
  project_id: string;
  epoch: string;
  offset: number;
  recovered: boolean;
}

/** A process as a snapshot carries it. */
export interface ProcessSnapshot {
  process_id: string;
  status: "running" | "completed";
  progress: number;
  message: string;
}

/** A project's whole state (v2), replacing what the client held for it. */
export interface ProjectSnapshot extends WSMessage {
  type: "project.snapshot";
  project_id: string;
  offset: number;
  data: ProjectData | null;
  files: FileInfo[];
  processes: ProcessSnapshot[];
}

/** A v2 server's answer to a request or a send. */
export type AckMessage =
  | (WSMessage & { type: "ack"; id: string; ok: true; data?: unknown })
  | (WSMessage & { type: "ack"; id: string; ok: false; error: string });

/** Made by the client for a project whose events may be missing (reload it another way). */
export interface ResyncEvent {
  type: "resync";
  project_id: string;
}

/** The message type each `on(type)` listener receives. */
export interface MessageTypes {
  "project.created": ProjectEvent;
  "project.updated": ProjectEvent;
  "project.deleted": ProjectEvent;
  "file.uploaded": FileEvent;
  "file.deleted": FileEvent;
  "process.started": ProcessEvent;
  "process.progress": ProcessEvent;
  "process.completed": ProcessEvent;
  "system.heartbeat": HeartbeatMessage;
  "project.snapshot": ProjectSnapshot;
  hello: HelloMessage;
  subscribed: SubscribedMessage;
  ack: AckMessage;
  resync: ResyncEvent;
}

// --- store values ------------------------------------------------------------------------------

export type ConnectionStatus = "connecting" | "connected" | "reconnecting" | "disconnected" | "error";

/** The story's WebSocketState. */
export interface WebSocketState {
  status: ConnectionStatus;
  reconnectAttempts: number;
  /** The reason, in the `error` state; null otherwise. */
  error: string | null;
}

/** The connection's health (the status widget and dashboards read it). */
export interface Health {
  status: ConnectionStatus;
  /** The reconnect attempt waited for or made (0 when connected or never failed). */
  attempt: number;
  /** When the next attempt opens (the client's clock, seconds), or null. */
  nextRetryAt: number | null;
  lastCloseCode: number | null;
  lastCloseReason: string;
  error: string | null;
  /** Round trip of the last ping, in seconds. */
  rtt: number | null;
  /** Messages in the outbox (queued, or sent and not acknowledged yet). */
  queueDepth: number;
  /** Sends dropped, oldest first, because the outbox was full. */
  queueOverflow: number;
  offline: boolean;
  /** Of the open connection: 2, 1, or 0 (not known yet). */
  protocol: number;
  /** Stream events dropped because their offset was already applied. */
  duplicates: number;
  rttSamples: number;
  /** The last failure's text (a token provider's, say; never the token). Version 3. */
  lastError: string | null;
  /** Authentication: no provider, signing in, signed in, signed out. Version 3. */
  auth: "none" | "signing_in" | "signed_in" | "signed_out";
  /** When the open connection's token is refreshed (the client's clock, seconds), or null. */
  authRefreshAt: number | null;
  /** This tab's part in the shared connection (Sharing). */
  role: "leader" | "follower" | "alone";
  /** How many tabs share this tab's connection, itself included (Sharing). */
  tabs: number;
}

export type SyncStatus = "live" | "recovering" | "reset" | "stale";

export interface ProcessInfo {
  project_id: string;
  process_id: string;
  status: "running" | "completed";
  progress: number;
  message: string;
}

/** `{projectId: data}` */
export type ProjectsValue = { [projectId: string]: ProjectData };
/** `{projectId: {path: file}}` */
export type FilesValue = { [projectId: string]: { [path: string]: FileInfo } };
/** `{projectId: {processId: process}}` */
export type ProcessesValue = { [projectId: string]: { [processId: string]: ProcessInfo } };
/** `{projectId: status}` */
export type SyncValue = { [projectId: string]: SyncStatus };

// --- the client --------------------------------------------------------------------------------

export interface RequestOptions {
  /** Milliseconds (default 10000). */
  timeout?: number;
}

/** A request carried over a reload (`pending()`). */
export interface PendingRequest {
  id: string;
  message: { [key: string]: unknown };
}

export interface CallbackErrors {
  count: number;
  last: string | null;
}

/** Why the token provider is called (Version 3). */
export interface AuthContext {
  reason: "connect" | "expired" | "refresh";
  /** The state's reconnectAttempts for the attempt the token is for (0 for a refresh). */
  attempt: number;
}

/** Returns the token, or null/undefined/"" when signed out. */
export type AuthProvider = (
  ctx: AuthContext,
) => string | null | undefined | Promise<string | null | undefined>;

/** What tests and leak checks read; not an API to build an app on. */
export interface WSClientDebug {
  liveProxies(): number;
  wasmBytes(): number;
  subscriberCount(name: StoreName): number;
}

export type StoreName = "state" | "messages" | "health" | "sync" | "projects" | "files" | "processes";

export interface WSClient {
  /** Send a JSON value (queued while not connected; with a v2 server delivered once). */
  send(message: unknown): void;
  /** Send an object and wait for the server's ack: resolves with its `data`. */
  request<T = unknown>(message: { [key: string]: unknown }, options?: RequestOptions): Promise<T>;
  /** Requests not settled yet, those carried over a reload included. */
  pending(): PendingRequest[];
  /** Settles like the request `id` (one of `pending()`). */
  wait<T = unknown>(id: string): Promise<T>;
  subscribe(projectId: string): void;
  unsubscribe(projectId: string): void;
  on<K extends keyof MessageTypes>(type: K, callback: (message: MessageTypes[K]) => void): Unsubscriber;
  on(type: string, callback: (message: WSMessage) => void): Unsubscriber;
  connect(): void;
  disconnect(): void;
  /** Mount the status widget in `element`; returns its unmount function. */
  mountStatus(element: Element): () => void;
  /** Replace the token provider from the next call on (null removes it). Version 3. */
  setAuth(provider: AuthProvider | null): void;
  callbackErrors(): CallbackErrors;
  readonly state: Readable<WebSocketState>;
  /** The last 100 messages, oldest first. */
  readonly messages: Readable<WSMessage[]>;
  readonly health: Readable<Health>;
  readonly sync: Readable<SyncValue>;
  readonly projects: Readable<ProjectsValue>;
  readonly files: Readable<FilesValue>;
  readonly processes: Readable<ProcessesValue>;
  readonly debug: WSClientDebug;
}

// --- the module (src/wsclient/bridge.py and port.py call these) ---------------------------------

/** Build `window.wsclient` around the Python bridge. */
export declare function createClient(py: object): WSClient;

/** A socket whose frames reach Python in batches (src/wsclient/port.py). */
export interface SocketHandle {
  send(text: string): boolean;
  close(code: number, reason: string): number;
  detach(): void;
}

export declare function openSocket(
  url: string,
  onOpen: () => void,
  onBatch: (batch: string | Array<string | number>) => void,
  onClose: (code: number, reason: string, bufferedAmount: number) => void,
  maxFrameSize?: number,
): SocketHandle;

declare global {
  interface Window {
    /** Set when the client is ready (the `wsclient:ready` event). */
    wsclient?: WSClient;
    /** The token provider, read once when the client starts (Version 3). */
    wsclientAuth?: AuthProvider;
  }
  interface WindowEventMap {
    "wsclient:ready": Event;
  }
}
