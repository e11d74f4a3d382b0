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
  var threshold = Number(root.getAttribute("data-resumable-threshold")) || Infinity;

  // The server's own formatBytes (/assets/format-bytes.js, loaded before this script).
  var human = window.sfFormatBytes;

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text; // textContent: file names are never parsed as HTML
    return e;
  }

  function refresh() {
    done.disabled = active > 0 || pending.length > 0 || uploadedCount === 0;
  }

  function uploaded(item) {
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
  }

  function failed(item, detail) {
    item.state.textContent = "failed: " + detail;
    item.row.setAttribute("data-state", "failed");
  }

  // A large file goes through tus (tus-js-client) in resumable chunks: a dropped connection or a
  // server restart is retried from where the server has it, and a reload of the page picks up the
  // same upload again (its URL is remembered in localStorage until it finishes).
  function startTus(item) {
    active++;
    var upload = new window.tus.Upload(item.file, {
      endpoint: api + "/uploads",
      chunkSize: 64 * 1024 * 1024,
      retryDelays: [0, 1000, 2000, 4000, 8000, 15000, 30000, 30000, 60000, 60000],
      metadata: { filename: item.file.name, content_type: item.file.type || "application/octet-stream" },
      removeFingerprintOnSuccess: true,
      onProgress: function (sent, total) {
        item.bar.value = total ? sent / total : 0;
        item.state.textContent = Math.floor((100 * sent) / (total || 1)) + "%";
      },
      onSuccess: function () {
        active--;
        uploaded(item);
        next();
      },
      onError: function (err) {
        active--;
        var body = err && err.originalResponse ? err.originalResponse.getBody() : "";
        var detail = "network error";
        try { detail = JSON.parse(body).detail || detail; } catch (_e) { /* not JSON */ }
        failed(item, detail);
        next();
      },
    });
    upload.findPreviousUploads().then(function (previous) {
      if (previous.length > 0) upload.resumeFromPreviousUpload(previous[0]);
      upload.start();
    });
  }

  function start(item) {
    if (window.tus && window.tus.isSupported && item.file.size >= threshold) return startTus(item);
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
        uploaded(item);
      } else {
        failed(item, xhr.response && xhr.response.detail ? xhr.response.detail : "HTTP " + xhr.status);
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
