// The pages' one upload queue: files to one API endpoint with a progress bar per file, a few at a
// time, the same `POST …/files` (multipart, field `file`) the SDK uses, and tus for large files.
// The signed-in pages (New package, a draft's page) send the session's CSRF token; the
// recipient's upload page (a magic link, no session) has none to send. XMLHttpRequest, because
// fetch reports no upload progress.

import "./format-bytes.js";

/** The session's CSRF token, which the API wants in X-CSRF-Token for a cookie-authenticated change. */
export function csrfToken() {
  return document.querySelector('meta[name="csrf-token"]')?.getAttribute("content") ?? "";
}

/** A JSON call to the API with the session; resolves {ok, status, body}. */
export async function api(method, url, body) {
  const headers = { "X-CSRF-Token": csrfToken(), Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  try {
    const res = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: "same-origin" });
    const text = await res.text();
    let json = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      json = null;
    }
    return { ok: res.ok, status: res.status, body: json };
  } catch {
    return { ok: false, status: 0, body: { detail: "The server could not be reached" } };
  }
}

/** `1.5 KiB`: the server's own formatBytes (served as /assets/format-bytes.js), as pages and sf write sizes. */
export function human(n) {
  return globalThis.sfFormatBytes(n);
}

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text; // never parsed as HTML: file names are anyone's text
  return e;
}

/** A row in `list` for one file: name, size, progress bar, state. */
export function queueRow(list, file) {
  const row = el("li", "file");
  row.setAttribute("data-state", "queued");
  row.appendChild(el("span", "name", file.name));
  row.appendChild(el("span", "size", human(file.size)));
  const bar = el("progress");
  bar.max = 1;
  bar.value = 0;
  bar.setAttribute("aria-label", "Upload of " + file.name);
  row.appendChild(bar);
  const state = el("span", "state muted", "waiting");
  row.appendChild(state);
  list.appendChild(row);
  return { file, row, bar, state };
}

/** Shows a file's state in its row (`data-state` for tests and styles, the text for people). */
export function set(item, state, text) {
  item.row.setAttribute("data-state", state);
  item.state.textContent = text;
}

/** Files of at least this size go through tus (resumable), when tus-js-client is on the page. */
const RESUMABLE_THRESHOLD = 64 * 1024 * 1024;

/**
 * A large file through tus (tus-js-client, loaded by the page): `…/uploads` beside `…/files`, in
 * 64 MiB chunks, retried from the server's offset after a dropped connection or a restart, and
 * resumed after a reload of the page (localStorage remembers the upload's URL until it finishes).
 */
function uploadResumable(url, item) {
  return new Promise((resolve) => {
    set(item, "uploading", "0%");
    const upload = new window.tus.Upload(item.file, {
      endpoint: url.replace(/\/files$/, "/uploads"),
      chunkSize: 64 * 1024 * 1024,
      retryDelays: [0, 1000, 2000, 4000, 8000, 15000, 30000, 30000, 60000, 60000],
      headers: csrfHeaders(),
      metadata: { filename: item.file.name, content_type: item.file.type || "application/octet-stream" },
      removeFingerprintOnSuccess: true,
      onProgress: (sent, total) => {
        item.bar.value = total ? sent / total : 0;
        item.state.textContent = Math.floor((100 * sent) / (total || 1)) + "%";
      },
      onSuccess: () => {
        item.bar.value = 1;
        set(item, "uploaded", "uploaded");
        resolve(true);
      },
      onError: (err) => {
        let detail = "network error";
        try {
          detail = JSON.parse(err.originalResponse.getBody()).detail || detail;
        } catch {
          // not our JSON
        }
        set(item, "failed", "failed: " + detail);
        resolve(false);
      },
    });
    upload.findPreviousUploads().then((previous) => {
      if (previous.length > 0) upload.resumeFromPreviousUpload(previous[0]);
      upload.start();
    });
  });
}

/** The CSRF header of a signed-in page; none on a page without a session (the recipient's). */
function csrfHeaders() {
  const token = csrfToken();
  return token ? { "X-CSRF-Token": token } : {};
}

/**
 * Uploads one queued file (through tus from `threshold` bytes, or through `upload(url, item, set)`
 * when given: an encrypted link's uploader); resolves true when the server stored it (201).
 */
function uploadOne(url, item, threshold = RESUMABLE_THRESHOLD, upload = null) {
  if (upload) return upload(url, item, (state, text) => set(item, state, text));
  if (window.tus?.isSupported && item.file.size >= threshold) return uploadResumable(url, item);
  return new Promise((resolve) => {
    const xhr = new XMLHttpRequest();
    const form = new FormData();
    form.append("file", item.file, item.file.name);
    xhr.open("POST", url);
    for (const [name, value] of Object.entries(csrfHeaders())) xhr.setRequestHeader(name, value);
    xhr.responseType = "json";
    set(item, "uploading", "0%");
    xhr.upload.onprogress = (ev) => {
      if (!ev.lengthComputable) return;
      item.bar.value = ev.loaded / ev.total;
      item.state.textContent = Math.floor((100 * ev.loaded) / ev.total) + "%";
    };
    xhr.onload = () => {
      if (xhr.status === 201) {
        item.bar.value = 1;
        set(item, "uploaded", "uploaded");
        resolve(true);
      } else {
        const detail = xhr.response && xhr.response.detail ? xhr.response.detail : "HTTP " + xhr.status;
        set(item, "failed", "failed: " + detail);
        resolve(false);
      }
    };
    xhr.onerror = () => {
      set(item, "failed", "failed: network error");
      resolve(false);
    };
    xhr.send(form);
  });
}

/**
 * A queue that uploads items as they are added, `parallel` at a time: `onDone(item, ok)` after
 * each, `onChange()` whenever what is under way changes (`busy` says whether anything is).
 */
export function uploadQueue(url, { parallel = 3, threshold = RESUMABLE_THRESHOLD, upload = null, onDone = () => {}, onChange = () => {} } = {}) {
  const pending = [];
  let active = 0;
  const pump = () => {
    while (active < parallel && pending.length > 0) {
      const item = pending.shift();
      active++;
      uploadOne(url, item, threshold, upload).then((ok) => {
        active--;
        onDone(item, ok);
        pump();
      });
    }
    onChange();
  };
  return {
    add(items) {
      pending.push(...items);
      pump();
    },
    get busy() {
      return active > 0 || pending.length > 0;
    },
  };
}

/** Uploads every item, a few at a time; resolves with how many failed. */
export function uploadAll(url, items, parallel = 3) {
  return new Promise((resolve) => {
    if (items.length === 0) return resolve(0);
    let left = items.length;
    let failed = 0;
    const queue = uploadQueue(url, {
      parallel,
      onDone: (_item, ok) => {
        if (!ok) failed++;
        if (--left === 0) resolve(failed);
      },
    });
    queue.add(items);
  });
}

/** Wires a drop zone and a file input to `add(files)`. */
export function acceptFiles(drop, input, add) {
  input.addEventListener("change", () => {
    add(input.files);
    input.value = "";
  });
  for (const t of ["dragenter", "dragover"]) {
    drop.addEventListener(t, (ev) => {
      ev.preventDefault();
      drop.classList.add("over");
    });
  }
  for (const t of ["dragleave", "drop"]) {
    drop.addEventListener(t, (ev) => {
      ev.preventDefault();
      drop.classList.remove("over");
    });
  }
  drop.addEventListener("drop", (ev) => {
    if (ev.dataTransfer?.files) add(ev.dataTransfer.files);
  });
}
