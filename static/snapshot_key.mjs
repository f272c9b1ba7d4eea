// The key of a snapshot's Python sources: a 53-bit hash (cyrb53) of "name\0bytes\0" for each file,
// in the manifest's order. Not cryptographic (it only detects a snapshot older than the sources),
// and pure JS, so Node (make) and the page compute the same thing, even outside a secure context
// where crypto.subtle is missing (http://<LAN address>).
export function sourcesKey(files) {
  let h1 = 0xdeadbeef, h2 = 0x41c6ce57;
  const enc = new TextEncoder();
  const eat = (bytes) => {
    for (let i = 0; i < bytes.length; i++) {
      const b = bytes[i];
      h1 = Math.imul(h1 ^ b, 2654435761);
      h2 = Math.imul(h2 ^ b, 1597334677);
    }
  };
  for (const [name, bytes] of files) {
    eat(enc.encode(name)); eat([0]); eat(bytes); eat([0]);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return (4294967296 * (2097151 & h2) + (h1 >>> 0)).toString(16).padStart(14, "0");
}
