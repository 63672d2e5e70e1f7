// The logged-out page: load one hidden iframe per front-channel client, show each one's progress,
// poll back-channel delivery states, then follow the post-logout redirect once every frame has
// loaded (and the initiating client's back-channel delivery is done), or the wait has passed.
// The target is the provider's /logout/continue/{id}, which itself waits for that delivery before
// its 303 to post_logout_redirect_uri, so the order holds for browsers without script too.
//
// The words say only what exeunt knows.  A front-channel iframe that loaded means exeunt *asked*
// the application; only when the application's page confirms (postMessage "exeunt:signed-out" to
// the provider's origin, see the README) does the line say it signed out.  A back-channel line says
// "signed out" after a 2xx answer, "will be told" while retrying, "could not be told" once given up.
// The list is aria-live, so each change is read out; the page stays for data-show-ms (a short,
// documented pause) so a person can read it, and moves on at once only when it shows nothing.
(function () {
  "use strict";
  var list = document.getElementById("progress");
  var frames = document.getElementById("frames");
  var button = document.getElementById("continue");
  var target = list ? list.dataset.target : (button || {}).href;
  var waitMs = list ? parseInt(list.dataset.waitMs, 10) || 0 : 0;
  var showMs = button ? parseInt(button.dataset.showMs, 10) || 0 : 0;
  var initiator = list ? list.dataset.initiator : null;
  var pendingFrames = 0;
  var initiatorPending = false;
  var left = false;
  var shownLongEnough = showMs === 0;
  var said = list ? list.dataset : {};  // the page's words, in the person's language (data-said-*)
  var heading = document.getElementById("heading");
  if (heading) heading.focus();  // the page changed: start reading here

  function setStatus(item, text, cls) {
    var s = item.querySelector("[data-status]");
    if (s.textContent === text) return;
    s.textContent = text;
    s.className = "status " + (cls || "");
  }

  function leave() {
    if (left || !target) return;
    left = true;
    window.location.replace(target);
  }

  function maybeLeave() {
    if (shownLongEnough && pendingFrames === 0 && !initiatorPending) leave();
  }

  if (list) {
    var byWindow = [];
    list.querySelectorAll("li[data-frame-src]").forEach(function (item) {
      var frame = document.createElement("iframe");
      frame.title = said.saidFrame;
      pendingFrames += 1;
      frame.addEventListener("load", function () {
        if (!item.dataset.confirmed) setStatus(item, said.saidAsked, "asked");
        pendingFrames -= 1;
        maybeLeave();
      });
      frame.src = item.dataset.frameSrc;
      frames.appendChild(frame);
      byWindow.push({ frame: frame, item: item });
    });
    // An application's front-channel page may confirm: parent.postMessage("exeunt:signed-out", provider origin).
    window.addEventListener("message", function (event) {
      if (event.data !== "exeunt:signed-out") return;
      byWindow.forEach(function (entry) {
        if (entry.frame.contentWindow === event.source && event.origin === entry.item.dataset.origin) {
          entry.item.dataset.confirmed = "1";
          setStatus(entry.item, said.saidConfirmed, "done");
        }
      });
    });

    var backchannel = list.querySelectorAll("li[data-backchannel]");
    backchannel.forEach(function (item) {
      if (item.dataset.backchannel === initiator) initiatorPending = true;
    });
    if (backchannel.length && list.dataset.signout) {
      var labels = {
        delivered: [said.saidDelivered, "done"],
        given_up: [said.saidGivenUp, "failed"],
        retrying: [said.saidRetrying, ""],
        pending: [said.saidPending, ""]
      };
      var poll = function () {
        fetch("/logout/status/" + encodeURIComponent(list.dataset.signout), { credentials: "omit" })
          .then(function (r) { return r.ok ? r.json() : null; })
          .then(function (body) {
            if (!body) return;
            var open = false;
            backchannel.forEach(function (item) {
              var state = body.backchannel[item.dataset.backchannel] || "pending";
              var label = labels[state] || [state, ""];
              setStatus(item, label[0], label[1]);
              if (state === "given_up") document.getElementById("given-up-help").hidden = false;
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
  if (!shownLongEnough) window.setTimeout(function () { shownLongEnough = true; maybeLeave(); }, showMs);
  if (target) {
    window.setTimeout(function () { shownLongEnough = true; leave(); }, Math.max(waitMs, showMs));
    maybeLeave();
  }
})();
