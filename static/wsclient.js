// The JavaScript half of the client, as PyScript registers it (pyscript.toml's [js_modules.main]
// names this file `wsclient_js`): the transport that src/wsclient/port.py drives (openSocket,
// static/transport.js) and the page API that src/wsclient/bridge.py publishes as
// window.wsclient (createClient, static/api.js), and tab sharing (createTabs, sharingSupported,
// static/tabs.js). Types: static/wsclient.d.ts.
export { openSocket } from "./transport.js";
export { createClient } from "./api.js";
export { createTabs, sharingSupported } from "./tabs.js";
