// Scrolls the chat page to the message landed on from a link (?c=…&m=…): the element
// ui/thread_view.py wraps it in. Streamlit has no scrolling API, and this frame is served
// from AnyChat's own origin, so it may reach the page that holds it.
//
// Streamlit keeps a chat page pinned to its end: while pinned, a scroll made by a script can
// be pulled back to the bottom a few frames later (its own check runs every 17 ms, the one
// that sees a reader's scroll is throttled to 100 ms). So the message is scrolled to, then
// watched: pulled out of view before it has stayed put for STEADY_MS, it is scrolled to again.
(function () {
  "use strict";
  var TARGET = ".st-key-landed-message";
  var APP = '[data-testid="stApp"]';
  var SCROLLER = '[data-testid="stAppScrollToBottomContainer"]';
  var WAIT_MS = 30000; // a page that has not finished its run by then is left alone
  var GIVE_UP_MS = 10000; // after the run ends, stop fighting for the position
  var STEADY_MS = 1500; // in view this long: landed
  var TICK_MS = 50;
  var page = window.parent.document;
  var origin = window.location.origin;
  var started = Date.now();
  var deadline = null; // set when the page's run has ended and the message is there
  var steadySince = null;
  var moved = false; // the reader scrolled, clicked or typed: never scroll under them

  function tell(type, fields) {
    var message = { isStreamlitMessage: true, type: type };
    for (var name in fields) message[name] = fields[name];
    window.parent.postMessage(message, origin);
  }

  // Streamlit's component protocol: ready, and no room taken on the page.
  tell("streamlit:componentReady", { apiVersion: 1 });
  tell("streamlit:setFrameHeight", { height: 0 });

  ["wheel", "touchstart", "keydown", "mousedown", "pointerdown"].forEach(function (kind) {
    page.addEventListener(
      kind,
      function (event) {
        if (event.isTrusted) moved = true; // not the wheel this script sends below
      },
      { capture: true }
    );
  });

  // While the page's run is still drawing, content arriving below keeps the chat pinned to
  // its end; scrolling before the run ends would be undone.
  function settled() {
    var app = page.querySelector(APP);
    var state = app && app.getAttribute("data-test-script-state");
    return !state || state === "notRunning";
  }

  function inView(target) {
    var scroller = page.querySelector(SCROLLER);
    var frame = scroller
      ? scroller.getBoundingClientRect()
      : { top: 0, bottom: window.parent.innerHeight };
    var box = target.getBoundingClientRect();
    return box.bottom > frame.top && box.top < frame.bottom;
  }

  // A wheel is what Streamlit reads as the reader taking over: it stops pulling to the end.
  function unpin() {
    var scroller = page.querySelector(SCROLLER);
    if (!scroller) return;
    var Wheel = window.parent.WheelEvent || WheelEvent;
    scroller.dispatchEvent(new Wheel("wheel", { bubbles: true, deltaY: -1 }));
  }

  function scrollTo(target) {
    unpin();
    target.scrollIntoView({ block: "center" });
    steadySince = Date.now();
  }

  function land() {
    if (moved) return;
    var now = Date.now();
    var target = page.querySelector(TARGET);
    if (target && settled()) {
      if (deadline === null) {
        deadline = now + GIVE_UP_MS;
        scrollTo(target);
      } else if (!inView(target)) {
        scrollTo(target);
      } else if (now - steadySince >= STEADY_MS) {
        return; // it stayed: done
      }
    }
    var limit = deadline === null ? started + WAIT_MS : deadline;
    if (now < limit) window.setTimeout(land, TICK_MS);
  }
  land();
})();
