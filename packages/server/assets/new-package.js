// New package: creates the package through the API, uploads each file with its own progress bar,
// finalizes, and shows the magic link once with a copy button. Without this script the form
// saves a draft through the page instead.
import { acceptFiles, api, queueRow, uploadAll } from "./upload-queue.js";

const form = document.getElementById("new-package");
const queue = document.getElementById("queue");
const status = document.getElementById("status");
const submit = document.getElementById("submit");
const filesField = document.getElementById("files-field");
const result = document.getElementById("result");
const maxFileBytes = Number(form.getAttribute("data-max-file-bytes"));
let items = [];

function direction() {
  return form.querySelector('input[name="direction"]:checked').value;
}

function showDirection() {
  const inbound = direction() === "inbound";
  filesField.hidden = inbound;
  // Several recipients, a download limit and a password are for sending files only.
  document.getElementById("delivery-field").hidden = inbound;
  form.elements["recipient_email"].multiple = !inbound;
  submit.textContent = inbound ? "Send the request" : "Send";
}

function add(files) {
  for (const file of files) {
    const item = queueRow(queue, file);
    if (file.size > maxFileBytes) {
      item.row.setAttribute("data-state", "failed");
      item.state.textContent = "too large for this server";
      continue;
    }
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "button small";
    remove.textContent = "Remove";
    remove.setAttribute("aria-label", "Remove " + file.name);
    remove.addEventListener("click", () => {
      items = items.filter((x) => x !== item);
      item.row.remove();
    });
    item.row.appendChild(remove);
    item.remove = remove;
    items.push(item);
  }
  status.textContent = "";
}

function lock(locked) {
  for (const e of form.elements) e.disabled = locked;
}

function fail(message) {
  status.textContent = message;
  status.classList.add("warn");
}

acceptFiles(document.getElementById("drop"), document.getElementById("file-input"), add);
for (const radio of form.querySelectorAll('input[name="direction"]')) radio.addEventListener("change", showDirection);
showDirection();

form.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  status.classList.remove("warn");
  if (!form.reportValidity()) return;
  const outbound = direction() === "outbound";
  if (outbound && items.length === 0) return fail("Add at least one file to send.");
  const value = (name) => form.elements[name].value;
  const emails = value("recipient_email")
    .split(",")
    .map((x) => x.trim())
    .filter(Boolean);
  const body = {
    title: value("title"),
    direction: direction(),
    ttl_days: Number(value("ttl_days")),
  };
  if (emails.length > 1) {
    if (value("recipient_name").trim()) return fail("A recipient name goes with one recipient; leave it empty for several.");
    body.recipients = emails.map((email) => ({ email }));
  } else {
    body.recipient_email = emails[0] ?? "";
    if (value("recipient_name").trim()) body.recipient_name = value("recipient_name");
  }
  if (value("message").trim()) body.message = value("message");
  if (outbound) {
    if (value("max_downloads").trim()) body.max_downloads = Number(value("max_downloads"));
    if (value("password")) body.password = value("password");
    body.notify_on_download = form.elements["notify_on_download"].checked;
  }

  lock(true);
  for (const item of items) item.remove?.remove();
  status.textContent = "Creating the package…";
  const created = await api("POST", "/api/v1/packages", body);
  if (!created.ok) {
    lock(false);
    return fail("Could not create the package: " + (created.body?.detail ?? "HTTP " + created.status));
  }
  const id = created.body.id;
  const draftLink = () => {
    const a = document.createElement("a");
    a.href = "/packages/" + id;
    a.textContent = "Open the draft";
    status.append(" ", a);
  };

  if (outbound) {
    status.textContent = "Uploading " + items.length + (items.length === 1 ? " file…" : " files…");
    const failed = await uploadAll("/api/v1/packages/" + id + "/files", items);
    if (failed > 0) {
      fail(failed + " of " + items.length + " files could not be uploaded; the package is saved as a draft.");
      return draftLink();
    }
  }

  status.textContent = "Creating the link…";
  const fin = await api("POST", "/api/v1/packages/" + id + "/finalize");
  if (!fin.ok) {
    fail("Could not finalize: " + (fin.body?.detail ?? "HTTP " + fin.status) + ".");
    return draftLink();
  }
  document.getElementById("magic-link").value = fin.body.magic_link;
  document.getElementById("open-package").href = "/packages/" + id;
  const links = fin.body.links ?? [];
  if (links.length > 1) {
    // Each recipient's own link: the first input shows the first; the list has them all.
    const list = document.getElementById("recipient-links");
    for (const l of links) {
      const li = document.createElement("li");
      const who = document.createElement("strong");
      who.textContent = l.recipient_email;
      const input = document.createElement("input");
      input.type = "text";
      input.readOnly = true;
      input.className = "mono";
      input.value = l.magic_link;
      input.setAttribute("aria-label", "Link for " + l.recipient_email);
      li.append(who, " ", input);
      list.appendChild(li);
    }
    list.hidden = false;
  }
  const emailStatus = document.getElementById("email-status");
  // The server queues the emails and sends them in the background (`mail_state`; an older server
  // only says `email_sent`).
  const stateOf = (l) => l.mail_state ?? (l.email_sent ? "sent" : "failed");
  const failed = links.filter((l) => stateOf(l) === "failed");
  if (failed.length === 0) {
    const sent = links.every((l) => stateOf(l) === "sent");
    emailStatus.textContent = (sent ? "Emailed to " : "Email queued for ") + links.map((l) => l.recipient_email).join(", ") + ".";
  } else {
    emailStatus.className = "warn";
    emailStatus.textContent =
      failed.map((l) => "The email to " + l.recipient_email + " could not be sent (" + (l.mail_error ?? l.email_error ?? "unknown error") + ")").join("; ") +
      ": send them the link yourself.";
  }
  status.textContent = "";
  form.hidden = true;
  result.hidden = false;
  document.getElementById("magic-link").focus();
});
