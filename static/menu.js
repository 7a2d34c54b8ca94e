// The staff's nine links fill a third of a phone's screen before any content: at phone width
// they fold behind the Menu button (the stylesheet hides them while the header is
// .menu-folded and not .menu-open). Without this script they simply show.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var button = document.querySelector(".menu-toggle");
  var header = button && button.closest(".topbar");
  if (!header) {
    return;
  }
  header.classList.add("menu-folded");
  button.hidden = false;
  button.addEventListener("click", function () {
    var open = header.classList.toggle("menu-open");
    button.setAttribute("aria-expanded", open ? "true" : "false");
  });
});
