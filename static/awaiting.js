// A result Testpress has not confirmed yet (a score only the browser reported, or one still being
// marked) updates itself: the page is fetched again every few seconds, and shown afresh once it is
// no longer awaiting Testpress. Fetched rather than reloaded, so that nothing moves (and no screen
// reader starts reading again) until there is something new. An external file: the CSP forbids
// inline scripts. Without JavaScript the page says to reload it.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var note = document.querySelector("[data-awaiting]");
  if (!note || !window.fetch || !window.DOMParser) {
    return;
  }
  var every = 5000, giveUpAfter = 60 * 60 * 1000, started = Date.now();
  function check() {
    if (Date.now() - started > giveUpAfter) {
      note.textContent = note.getAttribute("data-stopped");
      return;
    }
    fetch(window.location.href, {credentials: "same-origin", cache: "no-store"})
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        var fresh = html && new DOMParser().parseFromString(html, "text/html");
        if (fresh && !fresh.querySelector("[data-awaiting]")) {
          window.location.reload();
        } else {
          window.setTimeout(check, every);
        }
      })
      .catch(function () { window.setTimeout(check, every); });
  }
  window.setTimeout(check, every);
});
