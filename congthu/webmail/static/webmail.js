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

// The compose page (compose.html): files above the Điều 8.1 limit refused before upload,
// drafts saved every few seconds and when the page is left, recipients completed from
// the directory.
document.addEventListener("DOMContentLoaded", function () {
  var form = document.getElementById("soan");
  if (!form) { return; }
  var files = document.getElementById("tep");
  var fileError = document.getElementById("loi-tep");
  function oversized() {
    var max = parseInt(files.getAttribute("data-max-bytes"), 10);
    var big = [];
    Array.prototype.forEach.call(files.files || [], function (f) { if (f.size > max) { big.push(f.name); } });
    return big;
  }
  function checkFiles() {
    var big = oversized();
    if (big.length) {
      fileError.textContent = big.map(function (name) {
        return files.getAttribute("data-too-big").replace("{name}", name);
      }).join(" ");
      fileError.hidden = false;
      files.value = "";  // nothing too big is ever sent
      return false;
    }
    fileError.hidden = true;
    fileError.textContent = "";
    return true;
  }
  files.addEventListener("change", checkFiles);
  form.addEventListener("submit", function (event) {
    if (!checkFiles()) { event.preventDefault(); return; }
    saving = true;  // no autosave races the real submit
  });

  // Autosave: the form without its files, when it changed, every 4 seconds.
  var draftField = document.getElementById("nhap");
  var status = document.getElementById("trang-thai-nhap");
  var saving = false;
  var last = null;
  function snapshot() {
    var data = new FormData(form);
    data.delete("tep");
    data.delete("action");
    return data;
  }
  function key(data) {
    var parts = [];
    data.forEach(function (value, name) { if (name !== "nhap") { parts.push(name + "=" + value); } });
    return parts.join("\u0000");
  }
  last = key(snapshot());
  function save(leaving) {
    var data = snapshot();
    var now = key(data);
    if (now === last || (saving && !leaving)) { return; }
    saving = true;
    var request = fetch(form.getAttribute("data-autosave"), {
      method: "POST", body: data, credentials: "same-origin", keepalive: !!leaving
    });
    if (leaving) { last = now; return; }
    request.then(function (response) {
      if (!response.ok) { throw new Error(String(response.status)); }
      return response.json();
    }).then(function (answer) {
      draftField.value = String(answer.nhap);
      last = now;
      var time = new Date();
      status.textContent = form.getAttribute("data-saved") + " " +
        ("0" + time.getHours()).slice(-2) + ":" + ("0" + time.getMinutes()).slice(-2) + ":" + ("0" + time.getSeconds()).slice(-2);
      status.setAttribute("data-draft", draftField.value);
    }).catch(function () {
      status.textContent = form.getAttribute("data-save-failed");
    }).then(function () { saving = false; });
  }
  setInterval(function () { save(false); }, 4000);
  // A hidden tab may still be killed: save now (the page lives on, so the answer's
  // draft number is kept); when the page goes away, a keepalive request.
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "hidden") { save(false); }
  });
  window.addEventListener("pagehide", function () { if (!saving) { save(true); } });

  // Recipients from the directory, accents ignored ("binh" finds Bình).
  var list = document.getElementById("goi-y");
  var pending = null;
  ["den", "dong-gui", "an"].forEach(function (id) {
    var input = document.getElementById(id);
    input.addEventListener("input", function () {
      var parts = input.value.split(/[,;]/);
      var word = parts[parts.length - 1].trim();
      if (word.length < 2 || word.indexOf("@") >= 0) { return; }
      clearTimeout(pending);
      pending = setTimeout(function () {
        fetch("/thu/danh-ba?q=" + encodeURIComponent(word), { credentials: "same-origin" })
          .then(function (r) { return r.ok ? r.json() : { "ket-qua": [] }; })
          .then(function (answer) {
            var head = parts.slice(0, -1).join(", ");
            list.textContent = "";
            answer["ket-qua"].forEach(function (hit) {
              var option = document.createElement("option");
              option.value = (head ? head + ", " : "") + hit["ten"] + " <" + hit["dia-chi"] + ">";
              option.textContent = hit["ten"] + (hit["don-vi"] ? " – " + hit["don-vi"] : "");
              list.appendChild(option);
            });
          });
      }, 150);
    });
  });
});
