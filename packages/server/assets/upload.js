// Inbound link page: upload several files with per-file progress, then "done" notifies the owner.
// Served from our own origin (the page's CSP forbids inline script). Plain DOM, no framework.
(function () {
  "use strict";
  var root = document.getElementById("uploader");
  if (!root) return;
  var api = root.getAttribute("data-api");
  var input = document.getElementById("file-input");
  var drop = document.getElementById("drop");
  var queue = document.getElementById("queue");
  var done = document.getElementById("done");
  var status = document.getElementById("status");
  var received = document.getElementById("received");
  var active = 0;
  var uploadedCount = 0;
  var pending = [];
  var MAX_PARALLEL = 3;

  function human(n) {
    if (n < 1000) return n + " B";
    var u = ["kB", "MB", "GB", "TB"], i = -1;
    do { n /= 1000; i++; } while (n >= 1000 && i < u.length - 1);
    return (n >= 100 ? n.toFixed(0) : n.toFixed(1)) + " " + u[i];
  }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text; // textContent: file names are never parsed as HTML
    return e;
  }

  function refresh() {
    done.disabled = active > 0 || pending.length > 0 || uploadedCount === 0;
  }

  function start(item) {
    active++;
    var xhr = new XMLHttpRequest();
    var form = new FormData();
    form.append("file", item.file, item.file.name);
    xhr.open("POST", api + "/files");
    xhr.responseType = "json";
    xhr.upload.onprogress = function (ev) {
      if (ev.lengthComputable) item.bar.value = ev.loaded / ev.total;
    };
    xhr.onload = function () {
      active--;
      if (xhr.status === 201) {
        item.bar.value = 1;
        item.state.textContent = "uploaded";
        item.row.setAttribute("data-state", "uploaded");
        uploadedCount++;
        var none = document.getElementById("none-yet");
        if (none) none.remove();
        var li = el("li", "file");
        li.appendChild(el("span", "name", item.file.name));
        li.appendChild(el("span", "size", human(item.file.size)));
        received.appendChild(li);
      } else {
        var detail = xhr.response && xhr.response.detail ? xhr.response.detail : "HTTP " + xhr.status;
        item.state.textContent = "failed: " + detail;
        item.row.setAttribute("data-state", "failed");
      }
      next();
    };
    xhr.onerror = function () {
      active--;
      item.state.textContent = "failed: network error";
      item.row.setAttribute("data-state", "failed");
      next();
    };
    xhr.send(form);
  }

  function next() {
    while (active < MAX_PARALLEL && pending.length > 0) start(pending.shift());
    refresh();
  }

  function add(files) {
    for (var i = 0; i < files.length; i++) {
      var f = files[i];
      var row = el("li", "file");
      row.setAttribute("data-state", "queued");
      row.appendChild(el("span", "name", f.name));
      row.appendChild(el("span", "size", human(f.size)));
      var bar = el("progress");
      bar.max = 1;
      bar.value = 0;
      row.appendChild(bar);
      var state = el("span", "muted", "queued");
      row.appendChild(state);
      queue.appendChild(row);
      pending.push({ file: f, row: row, bar: bar, state: state });
    }
    status.textContent = "";
    next();
  }

  input.addEventListener("change", function () {
    add(input.files);
    input.value = "";
  });
  ["dragenter", "dragover"].forEach(function (t) {
    drop.addEventListener(t, function (ev) { ev.preventDefault(); drop.classList.add("over"); });
  });
  ["dragleave", "drop"].forEach(function (t) {
    drop.addEventListener(t, function (ev) { ev.preventDefault(); drop.classList.remove("over"); });
  });
  drop.addEventListener("drop", function (ev) {
    if (ev.dataTransfer && ev.dataTransfer.files) add(ev.dataTransfer.files);
  });

  done.addEventListener("click", function () {
    done.disabled = true;
    fetch(api + "/complete", { method: "POST" })
      .then(function (r) { return r.json().then(function (b) { return { ok: r.ok, body: b }; }); })
      .then(function (r) {
        status.textContent = r.ok ? "Thank you! The requester has been notified." : "Could not notify: " + (r.body.detail || "error");
        status.setAttribute("data-done", r.ok ? "yes" : "no");
        refresh();
      })
      .catch(function () {
        status.textContent = "Could not notify: network error";
        refresh();
      });
  });
  refresh();
})();
