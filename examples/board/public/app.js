// A single-page app on oidc-client-ts: code + PKCE sign-in, then the library's session monitor
// polls the provider's check_session_iframe and raises userSignedOut when the session ends.
(function () {
  "use strict";
  var cfg = window.SPA_CONFIG;
  var origin = window.location.origin;
  var mgr = new oidc.UserManager({
    authority: cfg.authority,
    client_id: cfg.client_id,
    redirect_uri: origin + "/index.html",
    silent_redirect_uri: origin + "/silent.html",
    post_logout_redirect_uri: origin + "/index.html",
    response_type: "code",
    scope: "openid",
    monitorSession: true,
    checkSessionIntervalInSeconds: 1,
    automaticSilentRenew: false,
    userStore: new oidc.WebStorageStateStore({ store: window.sessionStorage }),
  });
  var status = document.getElementById("status");
  var log = document.getElementById("log");
  function note(text) {
    var li = document.createElement("li");
    li.textContent = new Date().toISOString() + " " + text;
    log.appendChild(li);
  }
  mgr.events.addUserSignedOut(function () { status.textContent = "signed out"; note("userSignedOut"); });
  mgr.events.addUserSessionChanged(function () { note("userSessionChanged"); });
  document.getElementById("login").addEventListener("click", function () { mgr.signinRedirect(); });

  var params = new URLSearchParams(window.location.search);
  var ready = params.has("code") || params.has("error")
    ? mgr.signinCallback().then(function () { window.history.replaceState({}, "", "/index.html"); })
    : Promise.resolve();
  ready
    .then(function () { return mgr.getUser(); })
    .then(function (user) {
      status.textContent = user ? "signed in sid=" + user.profile.sid : "signed out";
      if (user) note("signed in, session_state " + user.session_state);
    })
    .catch(function (err) { status.textContent = "error: " + err.message; });
})();
