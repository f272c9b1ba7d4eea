// Optional start-up accelerator: opens the client's WebSocket while Pyodide is still booting
// (3-5 s), keeping whatever it receives, so the Python client adopts an already open socket
// instead of starting the handshake after boot. The client works the same without this file;
// if the URL it picks differs from the client's (src/wsclient/config.py), the client closes this
// socket and opens its own.
{
  const params = new URLSearchParams(location.search);
  const wanted = params.get("ws");
  const schemes = { "ws:": "ws:", "wss:": "wss:", "http:": "ws:", "https:": "wss:" };
  let url = null;
  try {
    const target = new URL(wanted || "/ws", location.href);
    const scheme = wanted ? schemes[target.protocol] : location.protocol === "https:" ? "wss:" : "ws:";
    if (scheme && target.host) {
      target.protocol = scheme;
      target.hash = "";
      url = target.href;
    }
  } catch (_) {
    // A URL the browser cannot parse: the Python client reports it as its error state.
  }
  if (url) {
    const early = { url, ws: new WebSocket(url), frames: [], opened: false, closed: null };
    early.ws.binaryType = "arraybuffer";
    early.ws.onopen = () => { early.opened = true; };
    early.ws.onmessage = (e) => {
      early.frames.push(typeof e.data === "string" ? e.data : e.data.byteLength);
    };
    early.ws.onclose = (e) => { early.closed = { code: e.code, reason: e.reason }; };
    window.__wsclientEarly = early;
  }
}
