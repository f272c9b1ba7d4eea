// The durable outbox's storage, measured (bench/storage.py): localStorage vs IndexedDB on the
// send path. Loaded by storage.html (plain JS) and storage-py.html (plus Pyodide: the same
// operations issued from Python, as src/wsclient/browser.py's DurableOutbox issues them). The
// harness drives it over raw CDP (Runtime.evaluate; no Network domain).
//
// An entry is what DurableOutbox.save writes: a small JSON record holding the message's wire
// text, under the key wsclient:outbox:<url>:<id>. Variants of one operation:
//   none        the record is built and serialised, nothing is stored (the baseline)
//   ls          localStorage.setItem(key, record)             / removeItem(key)
//   idb         one readwrite transaction per entry, put(record, key) / delete(key),
//               default durability (Chromium: "relaxed")
//   idb-strict  the same with {durability: "strict"} (the transaction completes after a flush)
// IndexedDB completions are counted (one shared oncomplete handler, no promise per entry);
// drain() resolves once every transaction issued so far has completed.
(() => {
  const DB = "wsclient-bench";
  const STORE = "outbox";
  const URL_KEY = `wsclient:outbox:ws://${location.host}/ws:`;
  const PAGE = Date.now();
  const s = {
    db: null,
    pending: 0,
    failed: 0,
    waiters: [],
    sink: 0,
    texts: {},
    openedAt: performance.now(),
  };
  window.__storage = s;

  s.open = () => {
    if (s.opening) return s.opening;
    s.opening = new Promise((resolve, reject) => {
      const req = indexedDB.open(DB, 1);
      req.onupgradeneeded = () => req.result.createObjectStore(STORE);
      req.onsuccess = () => {
        s.db = req.result;
        resolve(true);
      };
      req.onerror = () => reject(req.error);
    });
    return s.opening;
  };

  const settled = () => {
    s.pending--;
    if (s.pending === 0) {
      const waiters = s.waiters;
      s.waiters = [];
      for (const w of waiters) w();
    }
  };
  const failed = () => {
    s.failed++;
    settled();
  };

  // The wire text of a chat message of about `size` characters (what entry.text holds).
  s.text = (size) => {
    if (!s.texts[size]) {
      const head = '{"type":"chat.message","id":"c-000000","text":"';
      const pad = "lorem ipsum dolor sit amet ".repeat(Math.ceil(size / 27) + 1);
      s.texts[size] = head + pad.slice(0, Math.max(1, size - head.length - 2)) + '"}';
    }
    return s.texts[size];
  };

  s.key = (tag, i) => `${URL_KEY}${tag}-${i}`;

  // The record DurableOutbox.save serialises (expires: null, no deadline).
  s.record = (text, seq) =>
    JSON.stringify({
      order: [PAGE, seq],
      kind: "send",
      type: "chat.message",
      text,
      tagged: true,
      timeout: null,
      expires: null,
    });

  const tx = (variant) =>
    variant === "idb-strict"
      ? s.db.transaction(STORE, "readwrite", { durability: "strict" })
      : s.db.transaction(STORE, "readwrite");

  // One entry stored: synchronous part only (IndexedDB completes later, counted in `pending`).
  s.put = (variant, key, value) => {
    if (variant === "ls") {
      localStorage.setItem(key, value);
    } else if (variant === "none") {
      s.sink += value.length;
    } else {
      const t = tx(variant);
      t.oncomplete = settled;
      t.onabort = failed;
      t.objectStore(STORE).put(value, key);
      s.pending++;
    }
  };

  s.drop = (variant, key) => {
    if (variant === "ls") {
      localStorage.removeItem(key);
    } else if (variant === "none") {
      s.sink += key.length;
    } else {
      const t = tx(variant);
      t.oncomplete = settled;
      t.onabort = failed;
      t.objectStore(STORE).delete(key);
      s.pending++;
    }
  };

  s.drain = () => (s.pending === 0 ? Promise.resolve() : new Promise((r) => s.waiters.push(r)));

  // Issue n writes back to back (one send each): us per op for the synchronous part, and until
  // the last one completed.
  s.writeBurst = async (variant, size, n, tag) => {
    await s.open();
    const text = s.text(size);
    const t0 = performance.now();
    for (let i = 0; i < n; i++) s.put(variant, s.key(tag, i), s.record(text, i));
    const t1 = performance.now();
    await s.drain();
    const t2 = performance.now();
    return { issueUs: ((t1 - t0) * 1000) / n, doneUs: ((t2 - t0) * 1000) / n };
  };

  s.removeBurst = async (variant, n, tag) => {
    await s.open();
    const t0 = performance.now();
    for (let i = 0; i < n; i++) s.drop(variant, s.key(tag, i));
    const t1 = performance.now();
    await s.drain();
    const t2 = performance.now();
    return { issueUs: ((t1 - t0) * 1000) / n, doneUs: ((t2 - t0) * 1000) / n };
  };

  // The same bursts with the loop in Python (storage-py.html only): __storagePy.write/remove
  // return nothing; the clock is read here, around them.
  s.writeBurstPy = async (variant, size, n, tag) => {
    await s.open();
    const text = s.text(size);
    const t0 = performance.now();
    window.__storagePy.write(variant, text, n, tag);
    const t1 = performance.now();
    await s.drain();
    const t2 = performance.now();
    return { issueUs: ((t1 - t0) * 1000) / n, doneUs: ((t2 - t0) * 1000) / n };
  };

  s.removeBurstPy = async (variant, n, tag) => {
    await s.open();
    const t0 = performance.now();
    window.__storagePy.remove(variant, n, tag);
    const t1 = performance.now();
    await s.drain();
    const t2 = performance.now();
    return { issueUs: ((t1 - t0) * 1000) / n, doneUs: ((t2 - t0) * 1000) / n };
  };

  // Durability latency: one write at a time, each awaited (ms from issue to complete; for
  // localStorage the synchronous call is all there is). The entries are removed after.
  s.latency = async (variant, size, k, tag) => {
    await s.open();
    const text = s.text(size);
    const out = [];
    for (let i = 0; i < k; i++) {
      const t0 = performance.now();
      s.put(variant, s.key(tag, i), s.record(text, i));
      await s.drain();
      out.push(performance.now() - t0);
      await new Promise((r) => setTimeout(r, 5)); // idle between writes, as sends would be
    }
    for (let i = 0; i < k; i++) s.drop(variant, s.key(tag, i));
    await s.drain();
    return out;
  };

  // How many entries of `tag` the store holds.
  s.count = async (variant, tag) => {
    await s.open();
    const prefix = s.key(tag, "");
    if (variant === "ls") {
      let n = 0;
      for (let i = 0; i < localStorage.length; i++) {
        if (localStorage.key(i).startsWith(prefix)) n++;
      }
      return n;
    }
    return new Promise((resolve, reject) => {
      const req = s.db
        .transaction(STORE, "readonly")
        .objectStore(STORE)
        .count(IDBKeyRange.bound(prefix, `${prefix}\uffff`));
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
    });
  };

  s.clear = async () => {
    await s.open();
    localStorage.clear();
    await new Promise((resolve, reject) => {
      const t = s.db.transaction(STORE, "readwrite");
      t.objectStore(STORE).clear();
      t.oncomplete = resolve;
      t.onabort = () => reject(t.error);
    });
    return true;
  };

  // The reload test: n entries written (one transaction each for IndexedDB), then
  // location.reload() in the same task, as a page that sends and is reloaded at once. The
  // harness then counts, in the new page, what survived.
  s.writeThenReload = (variant, size, n, tag) => {
    window.__stale = true;
    const text = s.text(size);
    for (let i = 0; i < n; i++) s.put(variant, s.key(tag, i), s.record(text, i));
    location.reload();
    return s.pending;
  };

  s.open();
})();
