// svelte.html's Svelte side: once the Python client has published window.wsclient, mount the
// compiled components (build/svelte/, made by tools/compile_svelte.mjs) with Svelte's mount().
// ?project=<id> picks the project ProjectEvents follows (default "alpha").
import { mount, unmount } from "svelte";

await new Promise((resolve) => {
  if (window.wsclient !== undefined) resolve();
  else window.addEventListener("wsclient:ready", resolve, { once: true });
});

// Imported only now: $stores/websocket reads window.wsclient when it loads.
const [{ default: ConnectionStatus }, { default: ProjectEvents }] = await Promise.all([
  import("../build/svelte/ConnectionStatus.js"),
  import("../build/svelte/ProjectEvents.js"),
]);

const projectId = new URLSearchParams(location.search).get("project") || "alpha";
let mounted = [];

/** Mount both components (again); returns how many are mounted. */
function mountAll() {
  if (mounted.length) return mounted.length;
  mounted = [
    mount(ConnectionStatus, { target: document.getElementById("svelte-status") }),
    mount(ProjectEvents, { target: document.getElementById("svelte-project"), props: { projectId } }),
  ];
  return mounted.length;
}

/** Unmount both (Svelte's unmount: their store subscriptions and listeners end). */
async function unmountAll() {
  const components = mounted;
  mounted = [];
  await Promise.all(components.map((component) => unmount(component)));
}

mountAll();
window.svelteDemo = Object.freeze({
  projectId,
  mount: mountAll,
  unmount: unmountAll,
  get mounted() {
    return mounted.length;
  },
});
window.dispatchEvent(new CustomEvent("svelte:mounted"));
