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
  // Keyboard shortcuts (listed in the page's help): on the list j/k next/previous,
  // o/Enter open, x select, r reply to the current message; on a message r reply;
  // everywhere / to the search box. Rows are read when a key comes (new mail adds some).
  var current = -1;
  function listRows() {
    return Array.prototype.slice.call(document.querySelectorAll("table.messages tbody tr"));
  }
  function focusRow(i) {
    var rows = listRows();
    if (!rows.length) { return; }
    current = Math.max(0, Math.min(rows.length - 1, i));
    var link = rows[current].querySelector(".subject a");
    if (link) { link.focus(); }
  }
  document.addEventListener("keydown", function (event) {
    var tag = (event.target && event.target.tagName) || "";
    if (tag === "INPUT" || tag === "SELECT" || tag === "TEXTAREA" || (event.target && event.target.isContentEditable) ||
        event.ctrlKey || event.metaKey || event.altKey) {
      return;
    }
    var rows = listRows();
    var active = document.activeElement && document.activeElement.closest ?
      document.activeElement.closest("table.messages tbody tr") : null;
    if (active) { current = rows.indexOf(active); }
    if (event.key === "j") { focusRow(current + 1); }
    else if (event.key === "k") { focusRow(current - 1); }
    else if (event.key === "x" && current >= 0) {
      var box = rows[current].querySelector("input[type=checkbox]");
      if (box) { box.checked = !box.checked; }
    } else if (event.key === "o" && current >= 0) {
      var open = rows[current].querySelector(".subject a");
      if (open) { location.href = open.getAttribute("href"); }
    } else if (event.key === "r") {
      var reply = document.querySelector("a.reply");
      var table = document.querySelector("table.messages[data-folder]");
      if (reply) { location.href = reply.getAttribute("href"); }
      else if (table && current >= 0) {
        location.href = "/thu/soan?tra-loi=" + table.getAttribute("data-folder") + "-" + rows[current].getAttribute("data-uid");
      }
    } else if (event.key === "/") {
      var search = document.getElementById("tim");
      if (search) { event.preventDefault(); search.focus(); }
    } else { return; }
  });
});

// New mail without reload: the server's event stream (/thu/su-kien, fed by the store's
// change feed) sends the folders' unread counts and the shown folder's new messages.
// Every value goes in as text (textContent), never as markup.
document.addEventListener("DOMContentLoaded", function () {
  if (!document.querySelector("nav.folders") || typeof EventSource === "undefined") { return; }
  var table = document.querySelector("table.messages[data-folder]");
  var url = "/thu/su-kien";
  if (table && parseInt(table.getAttribute("data-newest"), 10) >= 0) {
    url += "?thu-muc=" + encodeURIComponent(table.getAttribute("data-folder")) +
      "&sau=" + encodeURIComponent(table.getAttribute("data-newest")) +
      (table.getAttribute("data-threaded") === "1" ? "&chuoi=1" : "");
  } else { table = null; }
  var stream = new EventSource(url);
  window.congthuEvents = stream;  // the tests look at its state
  stream.addEventListener("so-chua-doc", function (event) {
    var counts = JSON.parse(event.data);
    document.querySelectorAll("nav.folders a[data-folder]").forEach(function (link) {
      var n = counts[link.getAttribute("data-folder")] || 0;
      var badge = link.querySelector(".count");
      if (!n) { if (badge) { badge.remove(); } return; }
      if (!badge) {
        badge = document.createElement("span");
        badge.className = "count";
        link.appendChild(document.createTextNode(" "));
        link.appendChild(badge);
      }
      badge.textContent = String(n);
    });
  });
  function cell(row, className, text) {
    var td = document.createElement("td");
    if (className) { td.className = className; }
    if (text !== undefined) { td.textContent = text; }
    row.appendChild(td);
    return td;
  }
  stream.addEventListener("thu-moi", function (event) {
    if (!table) { return; }
    var m = JSON.parse(event.data);
    var body = table.querySelector("tbody");
    if (body.querySelector('tr[data-uid="' + String(parseInt(m.uid, 10)) + '"]')) { return; }
    // By conversation: the new message's row stands for its conversation, whose older
    // row goes (the conversation moves to the top).
    var replaced = (m.replaces || []).map(function (uid) { return String(parseInt(uid, 10)); });
    Array.prototype.slice.call(body.querySelectorAll("tr[data-uid]")).forEach(function (old) {
      if (replaced.indexOf(old.getAttribute("data-uid")) >= 0) { old.remove(); }
    });
    var row = document.createElement("tr");
    row.className = (m.seen ? "read" : "unread") + (m.flagged ? " flagged" : "") + " new";
    row.setAttribute("data-uid", String(parseInt(m.uid, 10)));
    row.setAttribute("draggable", "true");
    var box = document.createElement("input");
    box.type = "checkbox";
    box.name = "uid";
    box.value = String(parseInt(m.uid, 10));
    box.setAttribute("aria-label", m.subject);
    cell(row, "").appendChild(box);
    cell(row, "from", m.sender);
    var link = document.createElement("a");
    link.href = m.url;
    link.textContent = m.subject || table.getAttribute("data-no-subject") || "";
    var subject = cell(row, "subject");
    subject.appendChild(link);
    if (m.count > 1 && m.thread_url) {
      var members = document.createElement("a");
      members.href = m.thread_url;
      members.className = "thread-count";
      members.title = table.getAttribute("data-thread-open") || "";
      members.textContent = m.count_text;
      subject.appendChild(document.createTextNode(" "));
      subject.appendChild(members);
    }
    cell(row, "date", m.date);
    cell(row, "num", m.size);
    body.insertBefore(row, body.firstChild);
    table.setAttribute("data-newest", String(m.uid));
    var empty = document.querySelector("p.empty");
    if (empty) { empty.hidden = true; }
    var status = document.getElementById("thu-moi-trang-thai");
    if (status) { status.textContent = status.getAttribute("data-text") + ": " + m.subject; }
  });
  // A form sent from this page (the sign-out among them) is taking it elsewhere already:
  // the end of the session it causes must not turn that navigation into a reload.
  var leaving = false;
  document.addEventListener("submit", function (event) {
    if (!event.defaultPrevented) { leaving = true; }  // not one this script sends itself
  });
  stream.addEventListener("het-phien", function () {
    stream.close();
    if (!leaving) { location.reload(); }  // the server sends the page to the sign-in
  });
  window.addEventListener("pagehide", function () { stream.close(); });
});

// Drag and drop: rows (the checked ones, or the one dragged) onto a folder in the list
// move there with the list's own form (the "move" button of /thu/<folder>/thao-tac).
document.addEventListener("DOMContentLoaded", function () {
  var form = document.getElementById("danh-sach");
  var target = document.getElementById("dich");
  if (!form || !target) { return; }
  var MIME = "application/x-congthu-uids";
  form.addEventListener("dragstart", function (event) {
    var row = event.target.closest ? event.target.closest("tr[data-uid]") : null;
    if (!row) { return; }
    var box = row.querySelector("input[name=uid]");
    if (box && !box.checked) {
      form.querySelectorAll("input[name=uid]").forEach(function (other) { other.checked = false; });
      box.checked = true;
    }
    var uids = [];
    form.querySelectorAll("input[name=uid]:checked").forEach(function (b) { uids.push(b.value); });
    event.dataTransfer.setData(MIME, uids.join(","));
    event.dataTransfer.setData("text/plain", uids.join(","));
    event.dataTransfer.effectAllowed = "move";
  });
  document.querySelectorAll("nav.folders a[data-folder]").forEach(function (link) {
    var id = link.getAttribute("data-folder");
    if (!target.querySelector('option[value="' + id + '"]')) { return; }  // the folder shown
    link.addEventListener("dragover", function (event) {
      if (Array.prototype.indexOf.call(event.dataTransfer.types, MIME) < 0) { return; }
      event.preventDefault();
      event.dataTransfer.dropEffect = "move";
      link.classList.add("drop");
    });
    link.addEventListener("dragleave", function () { link.classList.remove("drop"); });
    link.addEventListener("drop", function (event) {
      event.preventDefault();
      link.classList.remove("drop");
      var uids = (event.dataTransfer.getData(MIME) || "").split(",").filter(Boolean);
      if (!uids.length) { return; }
      form.querySelectorAll("input[name=uid]").forEach(function (b) { b.checked = uids.indexOf(b.value) >= 0; });
      target.value = id;
      form.requestSubmit(form.querySelector('button[name=action][value=chuyen]'));
    });
  });
});

// The compose page (compose.html): rich text or plain, files above the Điều 8.1 limit
// refused before upload, drafts saved every few seconds and when the page is left,
// recipients completed from the directory.
document.addEventListener("DOMContentLoaded", function () {
  var form = document.getElementById("soan");
  if (!form) { return; }
  var syncEditor = richEditor(form);
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
    syncEditor();
    if (!checkFiles()) { event.preventDefault(); return; }
    saving = true;  // no autosave races the real submit
  });

  // Autosave: the form without its files, when it changed, every 4 seconds.
  var draftField = document.getElementById("nhap");
  var status = document.getElementById("trang-thai-nhap");
  var saving = false;
  var last = null;
  function snapshot() {
    syncEditor();
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
  function keptBoxes() { return Array.prototype.slice.call(form.querySelectorAll("input[name=giu]")); }
  function save(leaving) {
    var data = snapshot();
    var now = key(data);
    if (now === last || (saving && !leaving)) { return; }
    saving = true;
    var sent = keptBoxes().filter(function (box) { return box.checked; });
    var request = fetch(form.getAttribute("data-autosave"), {
      method: "POST", body: data, credentials: "same-origin", keepalive: !!leaving
    });
    if (leaving) { last = now; return; }
    request.then(function (response) {
      if (!response.ok) { throw new Error(String(response.status)); }
      return response.json();
    }).then(function (answer) {
      draftField.value = String(answer.nhap);
      // The kept files have new section numbers in the new version; unticked ones are gone.
      var sections = answer.giu || [];
      sent.forEach(function (box, at) { if (at < sections.length) { box.value = String(sections[at]); } });
      keptBoxes().forEach(function (box) {
        if (!box.checked && sent.indexOf(box) < 0) { box.parentNode.remove(); }
      });
      now = key(snapshot());
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

// The rich text editor of the compose page: a contenteditable area and its toolbar (bold,
// italic, underline, lists, link, quote, clear formatting; Ctrl+B/I/U), and the switch
// between rich and plain text (the choice is remembered for the user, /thu/soan/kieu).
// The editor's HTML goes in the form's "noi-dung-html"; the server cleans it with the
// reader's allow-list (the browser is never trusted with it) and makes the plain part.
// Returns the function that copies the editor into the form (before a save or a send).
function richEditor(form) {
  var editor = document.getElementById("soan-html");
  if (!editor) { return function () {}; }
  var box = document.getElementById("trinh-soan");
  var area = document.getElementById("than-thu");
  var field = document.getElementById("noi-dung-html");
  var plainRadio = document.getElementById("kieu-thuong");
  var richRadio = document.getElementById("kieu-html");
  var linkError = document.getElementById("loi-lien-ket");
  var rich = form.getAttribute("data-rich") === "1";
  var saved = null;  // the editor's last selection: a toolbar button acts on it
  document.getElementById("kieu-soan").hidden = false;
  function apply() {
    box.hidden = !rich;
    area.hidden = rich;
    richRadio.checked = rich;
    plainRadio.checked = !rich;
  }
  apply();
  function textToEditor(text) {
    editor.textContent = "";
    text.replace(/\r\n/g, "\n").split("\n").forEach(function (line) {
      var div = document.createElement("div");
      if (line) { div.textContent = line; } else { div.appendChild(document.createElement("br")); }
      editor.appendChild(div);
    });
  }
  function remember() {
    var data = new FormData();
    data.append("csrf", form.querySelector("input[name=csrf]").value);
    data.append("kieu", rich ? "html" : "thuong");
    fetch(form.getAttribute("data-mode"), { method: "POST", body: data, credentials: "same-origin" })
      .catch(function () {});
  }
  [plainRadio, richRadio].forEach(function (radio) {
    radio.addEventListener("change", function () {
      if (richRadio.checked === rich) { return; }
      if (richRadio.checked) { textToEditor(area.value); }
      else { area.value = editor.innerText.replace(/\n+$/, ""); }
      rich = richRadio.checked;
      apply();
      remember();
    });
  });
  var buttons = Array.prototype.slice.call(box.querySelectorAll(".editor-tools button[data-lenh]"));
  function state() {
    buttons.forEach(function (button) {
      if (!button.hasAttribute("aria-pressed")) { return; }
      var on = false;
      try { on = document.queryCommandState(button.getAttribute("data-lenh")); } catch (e) { on = false; }
      button.setAttribute("aria-pressed", on ? "true" : "false");
    });
  }
  document.addEventListener("selectionchange", function () {
    var selection = window.getSelection();
    if (selection.rangeCount && editor.contains(selection.anchorNode)) {
      saved = selection.getRangeAt(0).cloneRange();
      state();
    }
  });
  function restore() {
    // Only when the focus left the editor (a toolbar button reached by Tab): the caret
    // is then where the editor's selection last was. Otherwise the live selection is
    // the right one (the saved one may lag behind fast typing).
    if (document.activeElement === editor) { return; }
    editor.focus();
    if (saved) {
      var selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(saved);
    }
  }
  function run(command, button) {
    if (command === "createLink") {
      var url = window.prompt(button.getAttribute("data-hoi"), "https://");
      restore();
      if (url === null) { return; }
      url = url.trim();
      if (!/^(https?:\/\/[^\s]+|mailto:[^\s]+)$/i.test(url)) {
        linkError.textContent = button.getAttribute("data-sai");
        linkError.hidden = false;
        return;
      }
      linkError.hidden = true;
      document.execCommand("createLink", false, url);
    } else {
      restore();
      if (command === "blockquote") { document.execCommand("formatBlock", false, "blockquote"); }
      else if (command === "removeFormat") {
        document.execCommand("removeFormat");
        document.execCommand("unlink");
        document.execCommand("formatBlock", false, "div");
      } else { document.execCommand(command); }
    }
    state();
  }
  box.querySelector(".editor-tools").addEventListener("mousedown", function (event) {
    if (event.target.closest("button")) { event.preventDefault(); }  // the editor keeps its selection
  });
  buttons.forEach(function (button) {
    button.addEventListener("click", function () { run(button.getAttribute("data-lenh"), button); });
  });
  var keys = { b: "bold", i: "italic", u: "underline" };
  editor.addEventListener("keydown", function (event) {
    var command = keys[(event.key || "").toLowerCase()];
    if ((event.ctrlKey || event.metaKey) && !event.altKey && !event.shiftKey && command) {
      event.preventDefault();
      run(command, null);
    }
  });
  return function () { field.value = rich ? editor.innerHTML : ""; };
}

// The print view: its button prints (hidden when scripts do not run).
document.addEventListener("DOMContentLoaded", function () {
  var button = document.getElementById("in-thu");
  if (!button) { return; }
  button.hidden = false;
  button.addEventListener("click", function () { window.print(); });
});
