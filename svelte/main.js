// svelte.html's Svelte side: mount the compiled components (build/svelte/, made by
// tools/compile_svelte.mjs) with Svelte's mount() on load, without waiting for Python: until the
// client is ready, $stores/websocket's stores say `connecting` and its client keeps the calls
// made (the components' subscribes) for when it is.
// ?project=alpha,beta names the projects followed, one ProjectEvents each, read by the Python
// client's rule (svelte/lib/query.js); without the parameter, "alpha" (`?project=` names none).
import { mount, unmount } from "svelte";
import ConnectionStatus from "../build/svelte/ConnectionStatus.js";
import ProjectEvents from "../build/svelte/ProjectEvents.js";
import { projectsFromQuery } from "./lib/query.js";

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
