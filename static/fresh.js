// A page shown again from the browser's back-forward cache is a copy of how it was: an exam
// list from before the exam was taken still offers "Start". The portal's pages are
// no-store, which keeps most browsers from keeping such a copy; where one is shown anyway
// (event.persisted), fetch the page afresh. An external file: the CSP forbids inline scripts.
"use strict";
window.addEventListener("pageshow", function (event) {
  if (event.persisted) {
    window.location.reload();
  }
});
