// A single-page app on oidc-client-ts: code + PKCE sign-in, the person's name from userinfo, the
// library's session monitor (it polls the provider's check_session_iframe and raises userSignedOut
// when the session ends), and RP-initiated sign-out (signoutRedirect: the provider asks, then
// returns here).
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
    scope: "openid profile",
    loadUserInfo: true,
    monitorSession: true,
    checkSessionIntervalInSeconds: 1,
    automaticSilentRenew: false,
    userStore: new oidc.WebStorageStateStore({ store: window.sessionStorage }),
  });
  var status = document.getElementById("status");
  var log = document.getElementById("log");
  var login = document.getElementById("login");
  var logout = document.getElementById("logout");
  var details = document.getElementById("details");

  function note(text) {
    var li = document.createElement("li");
    // 24-hour time, as Notes and Billing write it
    li.textContent = new Date().toLocaleTimeString([], { hour12: false }) + " " + text;
    log.appendChild(li);
  }
  // "Signed out" (pink) only once this browser was signed in here; before that, "Not signed in yet".
  function show(user, ended) {
    if (user) sessionStorage.setItem("board:was-signed-in", "1");
    var wasSignedIn = ended || sessionStorage.getItem("board:was-signed-in") === "1";
    status.className = "status" + (user || !wasSignedIn ? "" : " out");
    status.textContent = user
      ? "Signed in as " + (user.profile.name || user.profile.sub)
      : wasSignedIn ? "Signed out" : "Not signed in yet";
    document.getElementById("sub").textContent = user ? user.profile.sub : "";
    document.getElementById("sid").textContent = user ? user.profile.sid : "";
    details.hidden = !user;
    login.hidden = !!user;
    logout.hidden = !user;
  }

  mgr.events.addUserSignedOut(function () {
    note("userSignedOut: the provider's session ended");
    mgr.removeUser().then(function () { show(null, true); });
  });
  mgr.events.addUserSessionChanged(function () { note("userSessionChanged"); });
  login.addEventListener("click", function () { mgr.signinRedirect(); });
  logout.addEventListener("click", function () {
    mgr.getUser().then(function (user) {
      return mgr.signoutRedirect({ id_token_hint: user ? user.id_token : undefined, state: "board" });
    });
  });

  var params = new URLSearchParams(window.location.search);
  var ready = params.has("code") || params.has("error")
    ? mgr.signinCallback().then(function () { window.history.replaceState({}, "", "/index.html"); })
    : params.has("state")
      ? mgr.signoutCallback().then(function () { window.history.replaceState({}, "", "/index.html"); })
      : Promise.resolve();
  ready
    .then(function () { return mgr.getUser(); })
    .then(function (user) {
      show(user);
      if (user) note("signed in, session_state " + user.session_state);
    })
    .catch(function (err) { status.textContent = "Error: " + err.message; });
})();
