// The status component's first paint, before Python is up (a cold first visit boots Pyodide for
// seconds): every [data-ws-status] element gets the markup src/wsclient/ui.py renders for the
// connecting state, and ui.StatusWidget then takes that same root over (no second element, no
// flash). Load it first in <head>: <script type="module" src="/static/early.js"></script>.
// The text and class are status.py's for State.CONNECTING (tests/unit/test_status.py checks it).

const ROOT_CLASS = "connection-status";

/** Render the connecting state into `element`, unless a status root is already there. */
export function renderConnecting(element) {
  if (element.querySelector(`:scope > .${ROOT_CLASS}`)) return;
  const part = (cls, text = "") => {
    const span = document.createElement("span");
    span.className = cls;
    span.textContent = text;
    return span;
  };
  const root = document.createElement("div");
  root.className = `${ROOT_CLASS} warning`;
  root.setAttribute("role", "status");
  root.setAttribute("aria-live", "polite");
  root.setAttribute("data-status", "connecting");
  root.append(part("indicator"), part("text", "Connecting..."), part("detail"));
  element.replaceChildren(root);
}

for (const element of document.querySelectorAll("[data-ws-status]")) renderConnecting(element);
