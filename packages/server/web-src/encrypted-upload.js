// Uploads to an end-to-end encrypted inbound link (served as /assets/e2e/encrypted-upload.js,
// bundled with age-encryption by build-assets.mjs; upload.js loads it only for such a link).
// Each file is encrypted in this browser to the requester's age recipient as it is read, and only
// ciphertext leaves: tus-js-client reads the encrypting stream, with Upload-Length the ciphertext
// size known up front (age's size arithmetic); the server-side name is opaque (`<32 hex>.age`);
// the real name, size, type and SHA-256 travel in the sealed entry (tus metadata `sealed`),
// encrypted to the same recipient. Plaintext is never sent, even on a failure. The server cannot
// read the name, so this page checks it with the server's own rules (services/file-names.ts); a
// recipient age-encryption refuses fails every file with a sentence, before anything is read.
import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex } from "@noble/hashes/utils.js";
import { Encrypter } from "age-encryption";
import { checkFileName } from "../src/services/file-names.js";

/** Chunks tus-js-client keeps in memory to re-send after a failure (a stream cannot be re-read). */
const CHUNK = 16 * 1024 * 1024;
/** A file whose stream cannot be resumed (the server lost more than the chunk in memory) starts over, this many times. */
const RESTARTS = 2;

/** The plaintext's SHA-256, read as a stream (the sealed entry needs it before the upload starts). */
async function hashFile(file, onProgress) {
  const h = sha256.create();
  const reader = file.stream().getReader();
  let seen = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return bytesToHex(h.digest());
    h.update(value);
    seen += value.length;
    onProgress(seen);
  }
}

/**
 * The stream in pieces of `size` bytes (the last one shorter). tus-js-client appends every read
 * to its chunk buffer by copying, so age's 64 KiB pieces would cost a quadratic amount of copying
 * per chunk; one read per chunk costs one copy.
 */
function rechunk(size) {
  let buf = new Uint8Array(size);
  let used = 0;
  return new TransformStream({
    transform(piece, c) {
      while (piece.length > 0) {
        const n = Math.min(size - used, piece.length);
        buf.set(piece.subarray(0, n), used);
        used += n;
        piece = piece.subarray(n);
        if (used === size) {
          c.enqueue(buf);
          buf = new Uint8Array(size);
          used = 0;
        }
      }
    },
    flush(c) {
      if (used > 0) c.enqueue(buf.subarray(0, used));
    },
  });
}

function base64(bytes) {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

/**
 * `upload(url, item, set)` for upload-queue.js: encrypts `item.file` to `recipient` and sends it
 * through tus at `…/uploads`; resolves true when the server stored it.
 */
export function encryptedUploader(recipient) {
  // An X25519 recipient (the contract's pattern) whose checksum age-encryption accepts.
  let recipientOk = /^age1[02-9ac-hj-np-z]{58}$/.test(recipient);
  try {
    new Encrypter().addRecipient(recipient);
  } catch {
    recipientOk = false;
  }
  return async (url, item, set) => {
    const file = item.file;
    if (!recipientOk) {
      set("failed", "failed: this request's key is not valid; ask the sender for a new link");
      return false;
    }
    const name = checkFileName(file.name);
    if (!name.ok) {
      set("failed", `failed: ${name.reason}`);
      return false;
    }
    set("uploading", "encrypting…");
    let digest;
    try {
      digest = await hashFile(file, (n) => {
        item.state.textContent = `reading ${Math.floor((100 * n) / (file.size || 1))}%`;
      });
    } catch {
      set("failed", "failed: the file could not be read");
      return false;
    }
    const entry = JSON.stringify({ name: name.name, size: file.size, content_type: file.type || "application/octet-stream", sha256: digest });
    const e = new Encrypter();
    e.addRecipient(recipient);
    const sealed = base64(await e.encrypt(entry));
    for (let attempt = 0; ; attempt++) {
      const outcome = await sendOnce(url, item, e, sealed, set);
      if (outcome === true) return true;
      if (outcome !== "restart" || attempt >= RESTARTS) {
        set("failed", typeof outcome === "string" && outcome !== "restart" ? outcome : "failed: network error");
        return false;
      }
      set("uploading", "starting over…");
    }
  };
}

/** One tus upload of a fresh encryption of the file: true, "restart", or a failure text. */
async function sendOnce(url, item, encrypter, sealed, set) {
  const file = item.file;
  const ciphertext = await encrypter.encrypt(file.stream());
  const size = ciphertext.size(file.size);
  const name = `${bytesToHex(crypto.getRandomValues(new Uint8Array(16)))}.age`;
  return new Promise((resolve) => {
    const upload = new window.tus.Upload(ciphertext.pipeThrough(rechunk(CHUNK)).getReader(), {
      endpoint: url.replace(/\/files$/, "/uploads"),
      uploadSize: size,
      chunkSize: CHUNK,
      retryDelays: [0, 1000, 2000, 4000, 8000, 15000, 30000],
      metadata: { filename: name, content_type: "application/octet-stream", sealed },
      // A stream cannot be resumed after a reload: nothing to remember.
      storeFingerprintForResuming: false,
      onProgress: (sent, total) => {
        item.bar.value = total ? sent / total : 0;
        item.state.textContent = Math.floor((100 * sent) / (total || 1)) + "%";
      },
      onSuccess: () => {
        item.bar.value = 1;
        set("uploaded", "uploaded (encrypted)");
        resolve(true);
      },
      onError: (err) => {
        let detail = null;
        try {
          detail = JSON.parse(err.originalResponse.getBody()).detail || null;
        } catch {
          // not our JSON
        }
        if (detail) return resolve(`failed: ${detail}`);
        // The server lost bytes this stream no longer holds (or the network gave up): start over
        // with a fresh encryption; the abandoned upload expires on the server.
        upload.abort(true).catch(() => {});
        resolve("restart");
      },
    });
    upload.start();
  });
}
