// The recipient page of an end-to-end encrypted package (served as /assets/e2e/encrypted-link.js,
// bundled with age-encryption by build-assets.mjs). The key is the page address's fragment (an
// age X25519 identity, never sent to the server by the browser) or a passphrase typed here (a
// field without a name, in a form that is never submitted). With it the page opens each file's
// sealed entry and the message, lists the real names and sizes, and downloads each file through
// the decrypting service worker (decrypt-sw.js), which streams the plaintext to an ordinary
// download. Without service workers, files up to FALLBACK_CAP are decrypted in memory.
// The names come from the sender alone (the server cannot read them): one the server's rules would
// refuse, or two one disk cannot hold, are shown (their control characters written out) but not
// offered for download.
// The key goes to nobody: no request carries it, no URL holds it (the worker gets it through
// postMessage), and the CSP lets the page talk to our own origin only.
import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex } from "@noble/hashes/utils.js";
import { Decrypter } from "age-encryption";
import { headerLimit, nameRefusals, printable } from "./limits.js";

/** Without a service worker a file is decrypted in memory, up to this size. */
const FALLBACK_CAP = 256 * 1024 * 1024;
const SW_SCRIPT = "/decrypt-sw.js";
const SW_SCOPE = "/decrypt/";

const root = document.getElementById("encrypted");
if (root) main(root);

function main(root) {
  const api = root.getAttribute("data-api");
  const scheme = root.getAttribute("data-scheme");
  const sealedMessage = root.getAttribute("data-sealed-message") || "";
  const status = document.getElementById("e2e-status");
  const form = document.getElementById("passphrase-form");
  const rows = Array.from(root.querySelectorAll("#e2e-files li[data-file-id]"));
  const human = (n) => globalThis.sfFormatBytes(n);
  // The link a person would give `sf download` (with its key in x25519 mode: it is theirs).
  const fullLink = () => location.href;

  const say = (text, kind = "warn") => {
    status.textContent = text;
    status.className = kind;
    status.hidden = false;
    status.setAttribute("data-kind", kind);
  };

  const worker = registerWorker();

  const keyOf = () => {
    if (scheme === "age-scrypt") return null; // asked for below
    const fragment = location.hash.slice(1);
    if (fragment === "") {
      say("This link has no key. Ask the sender for the full link: it ends with #AGE-SECRET-KEY-…");
      return undefined;
    }
    if (!/^AGE-SECRET-KEY-1[02-9AC-HJ-NP-Z]{58}$/.test(fragment)) {
      say("The key at the end of this link is incomplete or damaged. Copy the whole link from the sender again.");
      return undefined;
    }
    return { identity: fragment };
  };

  const decrypterFor = (key) => {
    const d = new Decrypter();
    if (key.identity !== undefined) d.addIdentity(key.identity);
    else d.addPassphrase(key.passphrase);
    return d;
  };

  /** Opens every sealed entry and the message; throws "key" or "tampered". */
  const open = async (key) => {
    const d = decrypterFor(key);
    const text = async (b64) => {
      try {
        return await d.decrypt(base64Bytes(b64), "text");
      } catch (err) {
        throw new Error(/no identity matched/.test(String(err?.message)) ? "key" : "tampered");
      }
    };
    const files = [];
    for (const row of rows) {
      const meta = JSON.parse(await text(row.getAttribute("data-sealed")));
      const ok =
        typeof meta?.name === "string" &&
        meta.name !== "" &&
        Number.isSafeInteger(meta.size) &&
        meta.size >= 0 &&
        typeof meta.sha256 === "string" &&
        /^[0-9a-f]{64}$/.test(meta.sha256);
      if (!ok) throw new Error("tampered");
      files.push({ row, id: row.getAttribute("data-file-id"), usedUp: row.hasAttribute("data-used-up"), meta });
    }
    const refusals = nameRefusals(files.map((f) => f.meta.name));
    files.forEach((f, i) => {
      f.refused = refusals[i]?.replace(/^File name/, "the file name");
    });
    const message = sealedMessage ? await text(sealedMessage) : null;
    return { files, message };
  };

  const show = (key, opened) => {
    if (opened.message) {
      const q = document.createElement("blockquote");
      q.className = "message";
      q.id = "e2e-message";
      q.textContent = opened.message; // never parsed as HTML
      root.before(q);
    }
    for (const f of opened.files) {
      const row = f.row;
      row.replaceChildren();
      row.appendChild(el("span", "name", printable(f.meta.name)));
      row.appendChild(el("span", "size", human(f.meta.size)));
      if (f.refused !== undefined) {
        row.setAttribute("data-state", "refused");
        row.appendChild(el("span", "state warn", `This file's description is not acceptable: ${f.refused}. Not offered for download; tell the sender.`));
        continue;
      }
      if (f.usedUp) {
        row.appendChild(el("span", "muted used-up", "Already downloaded"));
        continue;
      }
      const state = el("span", "state muted", "");
      const button = el("button", "button", "Download");
      button.type = "button";
      button.addEventListener("click", () => download(key, f, button, state));
      row.append(button, state);
    }
    root.setAttribute("data-opened", "yes");
  };

  const start = async (key) => {
    try {
      const opened = await open(key);
      status.hidden = true;
      if (form) form.hidden = true;
      show(key, opened);
    } catch (err) {
      if (err.message === "key") {
        say(
          key.identity !== undefined
            ? "The key in this link does not open these files. Check that you have the whole link the sender gave you."
            : "That passphrase does not open these files. Check it and try again.",
        );
      } else {
        say("These files were changed after they were encrypted, so they cannot be opened. Nothing was downloaded. Tell the sender.");
      }
      if (form) {
        form.querySelector("button").disabled = false;
        form.querySelector("input").select();
      }
    }
  };

  const setState = (f, state, text) => {
    f.row.setAttribute("data-state", state);
    f.row.querySelector(".state").textContent = text;
  };

  const download = async (key, f, button, state) => {
    button.disabled = true;
    state.textContent = "decrypting…";
    f.row.setAttribute("data-state", "decrypting");
    // Our own origin's bytes even when downloads are offloaded to presigned URLs (another origin).
    const url = `${api}/files/${encodeURIComponent(f.id)}?redirect=never`;
    const sw = await worker;
    try {
      const set = (s, t) => setState(f, s, t);
      // A worker that never takes the download (stopped, or not allowed to control the frame):
      // this file is decrypted in memory instead, within the same cap.
      if (!sw || !(await throughWorker(sw, key, url, f, set))) await inMemory(key, url, f, set);
    } finally {
      button.disabled = false;
    }
  };

  const inMemory = async (key, url, f, set) => {
    if (f.meta.size > FALLBACK_CAP) {
      set("failed", `too large to decrypt in this browser: use sf download '${fullLink()}'`);
      return;
    }
    try {
      const res = await fetch(url, { credentials: "same-origin", cache: "no-store", redirect: "error" });
      if (!res.ok) throw new Error(`http ${res.status}`);
      const plain = await decrypterFor(key).decrypt(res.body.pipeThrough(headerLimit()));
      const reader = plain.getReader();
      const hash = sha256.create();
      const chunks = [];
      let seen = 0;
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        seen += value.length;
        if (seen > f.meta.size) throw new Error("size");
        hash.update(value);
        chunks.push(value);
      }
      if (seen !== f.meta.size || bytesToHex(hash.digest()) !== f.meta.sha256) throw new Error("checksum");
      const href = URL.createObjectURL(new Blob(chunks, { type: "application/octet-stream" }));
      const a = document.createElement("a");
      a.href = href;
      a.download = f.meta.name.split("/").pop();
      document.body.appendChild(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(href), 60_000);
      set("saved", "saved");
    } catch (err) {
      set("failed", /^http/.test(err.message) ? `failed: the server answered ${err.message.slice(5)}` : "failed: this file was changed after it was encrypted; nothing was saved");
    }
  };

  // Another key typed into the address bar changes only the fragment: start again with it.
  addEventListener("hashchange", () => location.reload());

  if (scheme === "age-scrypt") {
    form.hidden = false;
    form.addEventListener("submit", (ev) => {
      ev.preventDefault(); // never submitted: the passphrase stays in this page
      const passphrase = form.querySelector("input").value;
      if (passphrase === "") return;
      form.querySelector("button").disabled = true;
      say("Opening…", "muted");
      start({ passphrase });
    });
    return;
  }
  const key = keyOf();
  if (key) start(key);

  /** Said once this browser turns out to have no service worker for us (absent, or blocked). */
  function noWorker() {
    const p = document.getElementById("e2e-fallback");
    p.textContent = `This browser does not let the page decrypt files as they download (no service workers), so each file is decrypted in memory: files up to ${human(FALLBACK_CAP)}. For a larger file use sf download '${fullLink()}'.`;
    p.hidden = false;
  }

  async function registerWorker() {
    if (!("serviceWorker" in navigator)) {
      noWorker();
      return null;
    }
    try {
      const reg = await navigator.serviceWorker.register(SW_SCRIPT, { scope: SW_SCOPE });
      // This page is outside the worker's scope, so navigator.serviceWorker.ready never
      // resolves here: wait for this registration's worker itself.
      const w = reg.active ?? reg.waiting ?? reg.installing;
      if (!w) return null;
      if (w.state !== "activated") {
        await new Promise((resolve, reject) => {
          w.addEventListener("statechange", () => {
            if (w.state === "activated") resolve();
            if (w.state === "redundant") reject(new Error("redundant"));
          });
        });
      }
      return reg.active ?? w;
    } catch {
      noWorker();
      return null;
    }
  }
}

/** How long the worker may take to pick up a download it was handed before the page gives up on it. */
const PICKUP_MS = 10_000;

/**
 * Hands one download to the worker (postMessage, never a URL), then starts it in a hidden iframe.
 * Resolves true once it ended (saved or failed), false when the worker never picked it up.
 */
function throughWorker(sw, key, url, f, set) {
  return new Promise((resolve) => {
    const id = bytesToHex(crypto.getRandomValues(new Uint8Array(16)));
    const channel = new MessageChannel();
    let frame = null;
    // A long download must not lose its worker to the browser's idle timeout.
    const ping = setInterval(() => sw.postMessage({ type: "ping" }), 10_000);
    let pickup = null;
    const finish = (state, text) => {
      clearInterval(ping);
      clearTimeout(pickup);
      if (state) set(state, text);
      channel.port1.close();
      // The download belongs to the browser by now; the frame can go.
      setTimeout(() => frame?.remove(), 1000);
      resolve(state !== null);
    };
    channel.port1.onmessage = (ev) => {
      const m = ev.data;
      if (m.type === "ready") {
        frame = document.createElement("iframe");
        frame.hidden = true;
        // No name in the address (the worker's Content-Disposition has it): see decrypt-sw.js.
        frame.src = `/decrypt/${id}`;
        document.body.appendChild(frame);
        set("downloading", "downloading…");
        pickup = setTimeout(() => finish(null), PICKUP_MS);
      } else if (m.type === "started") {
        clearTimeout(pickup);
      } else if (m.type === "progress") {
        set("downloading", `${Math.floor((100 * m.bytes) / (f.meta.size || 1))}%`);
      } else if (m.type === "done") {
        finish("saved", "saved");
      } else if (m.type === "failed") {
        const text =
          m.reason === "key"
            ? "failed: the key does not open this file"
            : m.reason === "cancelled"
              ? "cancelled"
              : /^http/.test(m.reason)
                ? `failed: the server answered ${m.reason.slice(5)}`
                : m.reason === "network"
                  ? "failed: network error"
                  : "failed: this file was changed after it was encrypted; the download was stopped";
        finish("failed", text);
      }
    };
    const message = { type: "decrypt", id, url, name: f.meta.name, size: f.meta.size, sha256: f.meta.sha256, ...key };
    sw.postMessage(message, [channel.port2]);
  });
}

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  e.textContent = text; // never parsed as HTML: names are anyone's text
  return e;
}

function base64Bytes(b64) {
  const s = atob(b64);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}
