// svelte.html's Svelte side: once the Python client has published window.wsclient, mount the
// compiled components (build/svelte/, made by tools/compile_svelte.mjs) with Svelte's mount().
// ?project=alpha,beta names the projects followed, one ProjectEvents each, read by the Python
// client's rule (svelte/lib/query.js); without the parameter, "alpha" (`?project=` names none).
import { mount, unmount } from "svelte";
import { projectsFromQuery } from "./lib/query.js";

await new Promise((resolve) => {
  if (window.wsclient !== undefined) resolve();
  else window.addEventListener("wsclient:ready", resolve, { once: true });
});

// Imported only now: $stores/websocket reads window.wsclient when it loads.
const [{ default: ConnectionStatus }, { default: ProjectEvents }] = await Promise.all([
  import("../build/svelte/ConnectionStatus.js"),
  import("../build/svelte/ProjectEvents.js"),
]);

const projectIds = Object.freeze(projectsFromQuery(location.search) ?? ["alpha"]);
let mounted = [];

/** Mount the status and one ProjectEvents per project (again); returns how many are mounted. */
function mountAll() {
  if (mounted.length) return mounted.length;
  const projects = document.getElementById("svelte-project");
  mounted = [
    mount(ConnectionStatus, { target: document.getElementById("svelte-status") }),
    ...projectIds.map((projectId) => mount(ProjectEvents, { target: projects, props: { projectId } })),
  ];
  return mounted.length;
}

/** Unmount them all (Svelte's unmount: their store subscriptions and project subscriptions end). */
async function unmountAll() {
  const components = mounted;
  mounted = [];
  await Promise.all(components.map((component) => unmount(component)));
}

mountAll();
window.svelteDemo = Object.freeze({
  projectIds,
  mount: mountAll,
  unmount: unmountAll,
  get mounted() {
    return mounted.length;
  },
});
window.dispatchEvent(new CustomEvent("svelte:mounted"));
