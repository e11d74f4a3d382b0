// A draft's page: add files with a progress bar each (the same API upload as New package), then
// show the page again with them listed.
import { acceptFiles, queueRow, uploadAll } from "./upload-queue.js";

const root = document.getElementById("uploader");
const queue = document.getElementById("queue");
const status = document.getElementById("status");
const url = "/api/v1/packages/" + root.getAttribute("data-package-id") + "/files";
let busy = false;

acceptFiles(document.getElementById("drop"), document.getElementById("file-input"), async (files) => {
  if (busy) return;
  busy = true;
  const items = Array.from(files, (f) => queueRow(queue, f));
  status.textContent = "Uploading…";
  const failed = await uploadAll(url, items);
  busy = false;
  if (failed === 0) {
    status.textContent = "Uploaded.";
    window.location.assign(window.location.pathname);
  } else {
    status.textContent = failed + " of " + items.length + " files could not be uploaded.";
    status.className = "warn";
  }
});
