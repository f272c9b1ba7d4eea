// Types of svelte/lib/stores/websocket.js (`$stores/websocket`), from static/wsclient.d.ts.
import type { Readable } from "svelte/store";
import type {
  FilesValue,
  Health,
  ProcessesValue,
  ProjectsValue,
  SyncValue,
  WSClient,
  WSMessage,
  WebSocketState,
} from "../../../static/wsclient.js";

export declare const wsState: Readable<WebSocketState>;
export declare const wsMessages: Readable<WSMessage[]>;
export declare const wsSync: Readable<SyncValue>;
export declare const wsHealth: Readable<Health>;
export declare const wsProjects: Readable<ProjectsValue>;
export declare const wsFiles: Readable<FilesValue>;
export declare const wsProcesses: Readable<ProcessesValue>;
export declare const isConnected: Readable<boolean>;
export declare function getWebSocketClient(): WSClient;
export declare function setupWebSocket(): WSClient;
