// The demo page's token provider (docs/protocol.md, "Authentication"), installed with ?auth=1:
// the server started with --auth (`make demo`) issues short-lived tokens at POST /auth/token.
// It runs before PyScript starts the client, which reads window.wsclientAuth once at start.
if (new URLSearchParams(location.search).get("auth") === "1") {
  window.wsclientAuth = async () => {
    const response = await fetch("/auth/token", { method: "POST" });
    if (!response.ok) {
      throw new Error(`the token endpoint answered ${response.status}`);
    }
    return (await response.json()).token;
  };
}
