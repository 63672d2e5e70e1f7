// Session Management 1.0 §3.2, the OP iframe.  Attached at once (the conformance suite posts one
// message 500 ms after load).  A message is "client_id session_state"; the reply goes to
// event.source at event.origin: "unchanged", "changed", or "error" when the message is malformed,
// the origin is not one of the client's redirect origins, or the browser-state cookie cannot be
// seen at all.  exeunt never deletes that cookie (it only changes its value on sign-in and sign-out),
// so an invisible cookie means blocked third-party storage, not a signed-out user: answering
// "changed" there would send clients into endless re-authentication (§5.1).
(function () {
  "use strict";
  var originsByClient = new Map();

  function browserState() {
    var m = document.cookie.match(/(?:^|;\s*)exeunt_bs=([^;]*)/);
    return m ? decodeURIComponent(m[1]) : null;
  }

  function originsOf(clientId) {
    if (!originsByClient.has(clientId)) {
      originsByClient.set(clientId, fetch("/session/check/origins?client_id=" + encodeURIComponent(clientId),
        { credentials: "omit" })
        .then(function (r) { return r.ok ? r.json() : { origins: [] }; })
        .then(function (body) { return body.origins || []; })
        .catch(function () { originsByClient.delete(clientId); return []; }));
    }
    return originsByClient.get(clientId);
  }

  // A session can also end elsewhere (another device, an operator, expiry) while this browser's
  // state value stays the same: ask the provider whether the session of this value still lives.
  // Asked at most every 2 s per value; when the provider cannot be asked, no change is claimed.
  var liveCache = { state: null, at: 0, live: true };
  function stillLive(state) {
    var now = Date.now();
    if (liveCache.state === state && now - liveCache.at < 2000) return Promise.resolve(liveCache.live);
    return fetch("/session/check/live?bs=" + encodeURIComponent(state), { credentials: "omit", cache: "no-store" })
      .then(function (r) { return r.ok ? r.json() : { live: true }; })
      .then(function (body) {
        liveCache = { state: state, at: now, live: body.live !== false };
        return liveCache.live;
      })
      .catch(function () { return true; });
  }

  function b64url(buffer) {
    var s = "";
    new Uint8Array(buffer).forEach(function (b) { s += String.fromCharCode(b); });
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  window.addEventListener("message", function (event) {
    if (!event.source || event.origin === "null") return;
    function reply(answer) { event.source.postMessage(answer, event.origin); }
    var parts = typeof event.data === "string" ? event.data.split(" ") : [];
    if (parts.length !== 2 || !parts[0] || parts[1].lastIndexOf(".") < 1) { reply("error"); return; }
    var clientId = parts[0], sessionState = parts[1];
    var salt = sessionState.slice(sessionState.lastIndexOf(".") + 1);
    originsOf(clientId).then(function (origins) {
      if (origins.indexOf(event.origin) === -1) { reply("error"); return; }  // §3.2 MUST reject other origins
      var state = browserState();
      if (state === null) { reply("error"); return; }
      var text = clientId + " " + event.origin + " " + state + " " + salt;
      return crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)).then(function (digest) {
        if (b64url(digest) + "." + salt !== sessionState) { reply("changed"); return; }
        return stillLive(state).then(function (live) { reply(live ? "unchanged" : "changed"); });
      });
    }).catch(function () { reply("error"); });
  });
})();
