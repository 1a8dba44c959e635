// Scrolls the chat page to the message landed on from a link (?c=…&m=…): the element
// ui/thread_view.py wraps it in. Streamlit has no scrolling API, and this frame is served
// from AnyChat's own origin, so it may reach the page that holds it.
(function () {
  "use strict";
  var TARGET = ".st-key-landed-message";
  var APP = '[data-testid="stApp"]';
  var GIVE_UP_MS = 10000; // a page still drawing after this is left where it is
  var AGAIN_MS = 400; // once more after the run ends: late layout (fonts, code blocks)
  var page = window.parent.document;
  var origin = window.location.origin;
  var deadline = Date.now() + GIVE_UP_MS;
  var moved = false; // the reader scrolled, clicked or typed: never scroll under them
  var landed = false;

  function tell(type, fields) {
    var message = { isStreamlitMessage: true, type: type };
    for (var name in fields) message[name] = fields[name];
    window.parent.postMessage(message, origin);
  }

  // Streamlit's component protocol: ready, and no room taken on the page.
  tell("streamlit:componentReady", { apiVersion: 1 });
  tell("streamlit:setFrameHeight", { height: 0 });

  ["wheel", "touchstart", "keydown", "mousedown"].forEach(function (kind) {
    page.addEventListener(kind, function () { moved = true; }, { capture: true, once: true });
  });

  // While the page's run is still drawing, content arriving below keeps the chat pinned to
  // its end; scrolling before the run ends would be undone.
  function settled() {
    var app = page.querySelector(APP);
    var state = app && app.getAttribute("data-test-script-state");
    return !state || state === "notRunning";
  }

  function land() {
    if (moved) return;
    var target = page.querySelector(TARGET);
    if (target && settled()) {
      target.scrollIntoView({ block: "center" });
      if (!landed) {
        landed = true;
        window.setTimeout(land, AGAIN_MS);
      }
      return;
    }
    if (Date.now() < deadline) window.setTimeout(land, 50);
  }
  land();
})();
