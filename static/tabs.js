// The browser half of tab sharing: Web Locks, the BroadcastChannel and the leader term in
// localStorage. Every decision is Python's (src/wsclient/tabs.py: the role table and the
// virtual links; src/wsclient/tabs_hub.py: the leader's hub); this module only carries it out.
//
// API (one object per page and server URL):
//
//   sharingSupported(env?) -> boolean
//     navigator.locks and BroadcastChannel both exist (Web Locks need a secure context:
//     https, or http on localhost / 127.0.0.1). Without them every tab connects alone.
//
//   createTabs(url, tabId, hooks, env?) -> tabs
//     hooks.granted(storedTerm)  the leader lock was granted (call SharedTab.lock_granted)
//     hooks.message(message)     another tab posted on the channel (SharedTab.message)
//     hooks.sleep()              pagehide with persisted, or freeze: hand over now
//                                (SharedTab.stop); the page may sleep with its lock otherwise
//     hooks.wake()               pageshow with persisted, or resume: start again
//     hooks.unload()             (optional) pagehide without persisted: the page is going away
//                                for good (a leader hands over before the browser drops it)
//     env                        globalThis unless a test passes fakes
//
//   tabs.lockName                "wsclient:<url>": the leader lock and the channel's name
//   tabs.alive                   a Promise: this tab's liveness lock "<lockName>:tab:<tabId>"
//                                is held (announce the tab only after it resolves)
//   tabs.requestLeader()         ask for the leader lock; held by a promise that never
//                                resolves until releaseLeader() (or the tab goes)
//   tabs.releaseLeader()         release it, or withdraw a request still waiting
//   tabs.post(message)           post a plain object (or the leader's frames as one string) to
//                                every other tab of the URL
//   tabs.readTerm() / tabs.storeTerm(term)   the last leader term, in localStorage
//   tabs.probeTab(id) -> Promise<boolean>    true when tab `id` is gone: its liveness lock was
//                                granted at once (ifAvailable), and this tab now keeps it, so
//                                no other tab adopts that tab's stored outbox entries too
//   tabs.close()                 release everything and stop listening (the page is going)

export function sharingSupported(env = globalThis) {
  return (
    typeof env.navigator?.locks?.request === "function" &&
    typeof env.BroadcastChannel === "function"
  );
}

export function createTabs(url, tabId, hooks, env = globalThis) {
  if (!sharingSupported(env)) {
    throw new Error(
      "wsclient tabs: navigator.locks or BroadcastChannel is missing: check sharingSupported() " +
        "first and connect alone without them",
    );
  }
  const locks = env.navigator.locks;
  const lockName = `wsclient:${url}`;
  const termKey = `${lockName}:term`;
  const channel = new env.BroadcastChannel(lockName);
  const releases = []; // resolvers of the liveness locks this tab holds (its own, adopted)
  let leader = null; // {abort, release} of the leader lock request, while asked or held

  channel.onmessage = (event) => hooks.message(event.data);

  const hold = (name, options) =>
    new Promise((granted) => {
      locks
        .request(name, options, (lock) => {
          if (lock === null) {
            granted(false); // ifAvailable: someone holds it
            return undefined;
          }
          granted(true);
          return new Promise((release) => releases.push(release));
        })
        .catch(() => granted(false));
    });

  const alive = hold(`${lockName}:tab:${tabId}`, {});

  const onPagehide = (event) => {
    if (event.persisted) hooks.sleep();
    else hooks.unload?.();
  };
  const onFreeze = () => hooks.sleep();
  const onPageshow = (event) => {
    if (event.persisted) hooks.wake();
  };
  const onResume = () => hooks.wake();
  env.addEventListener?.("pagehide", onPagehide);
  env.addEventListener?.("pageshow", onPageshow);
  env.document?.addEventListener?.("freeze", onFreeze);
  env.document?.addEventListener?.("resume", onResume);

  const tabs = {
    lockName,
    alive,

    requestLeader() {
      if (leader !== null) return;
      const abort = new env.AbortController();
      const request = { abort, release: null };
      leader = request;
      locks
        .request(lockName, { signal: abort.signal }, () => {
          if (leader !== request) return undefined; // released before the grant came
          const held = new Promise((release) => {
            request.release = release;
          });
          hooks.granted(tabs.readTerm());
          return held;
        })
        .catch((error) => {
          if (error?.name !== "AbortError") throw error;
        });
    },

    releaseLeader() {
      const request = leader;
      leader = null;
      if (request === null) return;
      if (request.release !== null) request.release();
      else request.abort.abort();
    },

    post(message) {
      channel.postMessage(message);
    },

    readTerm() {
      try {
        const term = Number.parseInt(env.localStorage.getItem(termKey) ?? "0", 10);
        return Number.isSafeInteger(term) && term > 0 ? term : 0;
      } catch {
        return 0; // storage blocked: terms still grow within the tabs that are open
      }
    },

    storeTerm(term) {
      try {
        env.localStorage.setItem(termKey, String(term));
      } catch {
        // blocked or full: a later leader may reuse a term, which the tabs' fencing tolerates
        // (a repeated term from another tab is taken by candidates only)
      }
    },

    probeTab(id) {
      return hold(`${lockName}:tab:${id}`, { ifAvailable: true });
    },

    close() {
      tabs.releaseLeader();
      for (const release of releases.splice(0)) release();
      channel.onmessage = null;
      channel.close();
      env.removeEventListener?.("pagehide", onPagehide);
      env.removeEventListener?.("pageshow", onPageshow);
      env.document?.removeEventListener?.("freeze", onFreeze);
      env.document?.removeEventListener?.("resume", onResume);
    },
  };
  return tabs;
}
