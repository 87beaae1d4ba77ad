// Công Thư webmail: a little plain JavaScript, only ever from this file (the pages'
// Content-Security-Policy allows no inline script). Everything works without it.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var all = document.getElementById("chon-tat-ca");
  var boxes = document.querySelectorAll('input[type=checkbox][name=uid]');
  if (all) {
    all.hidden = false;
    all.addEventListener("change", function () {
      boxes.forEach(function (box) { box.checked = all.checked; });
    });
  }
  // Keyboard shortcuts on the message list: j/k move, o/Enter open, x select.
  var rows = Array.prototype.slice.call(document.querySelectorAll("table.messages tbody tr"));
  var current = -1;
  function focusRow(i) {
    if (!rows.length) { return; }
    current = Math.max(0, Math.min(rows.length - 1, i));
    var link = rows[current].querySelector(".subject a");
    if (link) { link.focus(); }
  }
  document.addEventListener("keydown", function (event) {
    var tag = (event.target && event.target.tagName) || "";
    if (tag === "INPUT" || tag === "SELECT" || tag === "TEXTAREA" || event.ctrlKey || event.metaKey || event.altKey) {
      return;
    }
    if (event.key === "j") { focusRow(current + 1); }
    else if (event.key === "k") { focusRow(current - 1); }
    else if (event.key === "x" && current >= 0) {
      var box = rows[current].querySelector("input[type=checkbox]");
      if (box) { box.checked = !box.checked; }
    }
  });
});
