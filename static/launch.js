// Submits the signed launch form to Testpress as soon as the page is ready.
// An external file, not an inline script, so the strict Content-Security-Policy holds.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var form = document.querySelector("form[data-autosubmit]");
  if (form) {
    form.submit();
  }
});
