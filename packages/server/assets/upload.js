// Inbound link page: upload several files with per-file progress (the pages' one upload queue,
// upload-queue.js), then "done" notifies the owner. Served from our own origin (the page's CSP
// forbids inline script). Plain DOM, no framework.
import { acceptFiles, human, queueRow, uploadQueue } from "./upload-queue.js";

const root = document.getElementById("uploader");
if (root) {
  const api = root.getAttribute("data-api");
  // An end-to-end encrypted link: every file is encrypted here, to the requester's key, before
  // any byte leaves (the bundle with age-encryption loads only for such a link).
  const recipient = root.getAttribute("data-recipient");
  const upload = recipient ? (await import("/assets/e2e/encrypted-upload.js")).encryptedUploader(recipient) : null;
  const queueList = document.getElementById("queue");
  const done = document.getElementById("done");
  const status = document.getElementById("status");
  const received = document.getElementById("received");
  let uploadedCount = 0;

  const refresh = () => {
    done.disabled = queue.busy || uploadedCount === 0;
  };

  // Each file joins "Already received" as soon as it is stored.
  const uploaded = (item) => {
    uploadedCount++;
    document.getElementById("none-yet")?.remove();
    const li = document.createElement("li");
    li.className = "file";
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = item.file.name; // textContent: file names are never parsed as HTML
    const size = document.createElement("span");
    size.className = "size";
    size.textContent = human(item.file.size);
    li.append(name, size);
    received.appendChild(li);
  };

  const queue = uploadQueue(api + "/files", {
    // Large files go through tus: resumable after a dropped connection, a restart or a reload.
    threshold: Number(root.getAttribute("data-resumable-threshold")) || Infinity,
    upload,
    onDone: (item, ok) => {
      if (ok) uploaded(item);
    },
    onChange: () => refresh(),
  });

  acceptFiles(document.getElementById("drop"), document.getElementById("file-input"), (files) => {
    status.textContent = "";
    queue.add(Array.from(files, (f) => queueRow(queueList, f)));
  });

  done.addEventListener("click", async () => {
    done.disabled = true;
    try {
      const r = await fetch(api + "/complete", { method: "POST" });
      const body = await r.json();
      status.textContent = r.ok ? "Thank you! The requester has been notified." : "Could not notify: " + (body.detail || "error");
      status.setAttribute("data-done", r.ok ? "yes" : "no");
    } catch {
      status.textContent = "Could not notify: network error";
    }
    refresh();
  });
  refresh();
}
