// The page query's project list, by the Python client's rule (projects_from_query and
// query_parameters in src/wsclient/config.py), so that svelte.html and index.html read
// `?project=` alike: the last `project` parameter wins, `+` is a space, %XX runs are UTF-8 (a bad
// byte becomes U+FFFD), names are split on commas and trimmed as Python's str.strip() trims, and
// empty names and repeats are left out, in order.

// Python's str.isspace() characters: JS's \s without U+FEFF, plus U+001C-U+001F and U+0085.
const SPACE = "[\\t\\n\\v\\f\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]";
const STRIP = new RegExp(`^${SPACE}+|${SPACE}+$`, "g");
const PERCENT = /(?:%[0-9A-Fa-f]{2})+/g;
// Not fatal: a bad byte sequence becomes U+FFFD; ignoreBOM keeps a leading U+FEFF, as Python does.
const utf8 = new TextDecoder("utf-8", { ignoreBOM: true });

function unquote(text) {
  return text.replaceAll("+", " ").replace(PERCENT, (run) =>
    utf8.decode(Uint8Array.from(run.slice(1).split("%"), (hex) => parseInt(hex, 16))),
  );
}

/** `search` (location.search, with or without its "?") as Python reads it: name -> last value. */
export function queryParameters(search) {
  const params = new Map();
  for (const pair of search.replace(/^\?/, "").split("&")) {
    if (!pair) continue;
    const at = pair.indexOf("=");
    const [name, value] = at < 0 ? [pair, ""] : [pair.slice(0, at), pair.slice(at + 1)];
    params.set(unquote(name), unquote(value));
  }
  return params;
}

/** The projects `?project=alpha,beta` names, in order; null without the parameter
 * (`?project=` names none). */
export function projectsFromQuery(search) {
  const params = queryParameters(search);
  if (!params.has("project")) return null;
  const names = params.get("project").split(",").map((name) => name.replace(STRIP, ""));
  return [...new Set(names.filter((name) => name))];
}
