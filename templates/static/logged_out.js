// The logged-out page: load one hidden iframe per front-channel client, show each one's progress,
// poll back-channel delivery states, then follow the post-logout redirect once every frame has
// loaded (and the initiating client's back-channel delivery is done), or the wait has passed.
// The target is the provider's /logout/continue/{id}, which itself waits for that delivery before
// its 303 to post_logout_redirect_uri, so the order holds for browsers without script too.
(function () {
  "use strict";
  var list = document.getElementById("progress");
  var frames = document.getElementById("frames");
  var target = list ? list.dataset.target : (document.getElementById("continue") || {}).href;
  var waitMs = list ? parseInt(list.dataset.waitMs, 10) || 0 : 0;
  var initiator = list ? list.dataset.initiator : null;
  var pendingFrames = 0;
  var initiatorPending = false;
  var left = false;

  function setStatus(item, text, cls) {
    var s = item.querySelector("[data-status]");
    s.textContent = text;
    s.className = "status " + (cls || "");
  }

  function leave() {
    if (left || !target) return;
    left = true;
    window.location.replace(target);
  }

  function maybeLeave() {
    if (pendingFrames === 0 && !initiatorPending) leave();
  }

  if (list) {
    list.querySelectorAll("li[data-frame-src]").forEach(function (item) {
      var frame = document.createElement("iframe");
      frame.title = "Signing out";
      pendingFrames += 1;
      frame.addEventListener("load", function () {
        setStatus(item, "signed out", "done");
        pendingFrames -= 1;
        maybeLeave();
      });
      frame.src = item.dataset.frameSrc;
      frames.appendChild(frame);
    });

    var backchannel = list.querySelectorAll("li[data-backchannel]");
    backchannel.forEach(function (item) {
      if (item.dataset.backchannel === initiator) initiatorPending = true;
    });
    if (backchannel.length && list.dataset.signout) {
      var labels = { delivered: "signed out", given_up: "could not be told", retrying: "retrying…", pending: "notifying…" };
      var poll = function () {
        fetch("/logout/status/" + encodeURIComponent(list.dataset.signout), { credentials: "omit" })
          .then(function (r) { return r.ok ? r.json() : null; })
          .then(function (body) {
            if (!body) return;
            var open = false;
            backchannel.forEach(function (item) {
              var state = body.backchannel[item.dataset.backchannel] || "pending";
              setStatus(item, labels[state] || state, state === "delivered" ? "done" : state === "given_up" ? "failed" : "");
              if (state === "pending" || state === "retrying") open = true;
              if (item.dataset.backchannel === initiator && (state === "delivered" || state === "given_up")) {
                initiatorPending = false;
              }
            });
            maybeLeave();
            if (open) window.setTimeout(poll, 300);
          })
          .catch(function () { window.setTimeout(poll, 1000); });
      };
      poll();
    }
  }
  if (target) {
    window.setTimeout(leave, waitMs);
    maybeLeave();
  }
})();
