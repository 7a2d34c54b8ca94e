// The import preview's counts follow the batches ticked for creation: a row whose only problem
// is a batch not created yet becomes a good row once its batch is ticked. The server counts
// with nothing ticked (data-base); each box carries how many rows it brings in (data-rows).
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var boxes = document.querySelectorAll('input[name="new_batch"][data-rows]');
  var good = document.querySelector('[data-count="good"]');
  var problems = document.querySelector('[data-count="problems"]');
  if (!boxes.length || !good || !problems) {
    return;
  }
  function recount() {
    var brought = 0;
    boxes.forEach(function (box) {
      if (box.checked) {
        brought += Number(box.dataset.rows);
      }
    });
    good.querySelector("b").textContent = (Number(good.dataset.base) + brought).toLocaleString("en");
    problems.querySelector("b").textContent = (Number(problems.dataset.base) - brought).toLocaleString("en");
  }
  boxes.forEach(function (box) {
    box.addEventListener("change", recount);
  });
  recount();  // a reloaded page keeps its ticks
});
