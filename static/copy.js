// A "Copy" button beside a read-only field (data-copy names the field's id): one press puts the
// field's value on the clipboard and says so in the status beside it. Shown only where this
// script runs; without it the field is selected by hand. An external file: the CSP forbids
// inline scripts.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    var field = document.getElementById(button.getAttribute("data-copy"));
    var status = document.getElementById(button.getAttribute("aria-describedby"));
    if (!field || !status) {
      return;
    }
    function said(words) { status.textContent = words; }
    button.hidden = false;
    button.addEventListener("click", function () {
      field.select();
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(field.value).then(function () { said("Copied."); },
          function () { said("Not copied: select the link and copy it by hand."); });
      } else {  // plain HTTP on another host than localhost: the older way still works
        said(document.execCommand("copy") ? "Copied." : "Not copied: select the link and copy it by hand.");
      }
    });
  });
});
