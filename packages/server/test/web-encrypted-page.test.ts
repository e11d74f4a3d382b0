import { describe, expect, it } from "vitest";
import { linkPage, type LinkPageData } from "../src/web/pages.js";

// The server-rendered part of an encrypted package's pages (the browser tests run the scripts).
const HOSTILE = `"><script>alert(1)</script>`;
const base: LinkPageData = {
  secret: "s".repeat(43),
  title: `Q4 ${HOSTILE}`,
  message: null,
  direction: "outbound",
  senderName: `Alice ${HOSTILE}`,
  senderEmail: "alice@speedyfiles.test",
  expiresAt: "2026-12-21T09:00:00.000Z",
  files: [{ id: "0b9f3a2e-51d4-4f9b-9d0a-2f6a8f1c0d11", name: "3f1c0d112f6a8f1c0d112f6a8f1c0d11.age", size: 1234, sha256: "a".repeat(64), sealed: `YWdl${HOSTILE}` }],
  totalSize: 1234,
  completedAt: null,
  encryption: { scheme: "age-x25519" },
  sealedMessage: `YWdl${HOSTILE}`,
};

describe("the encrypted recipient pages as the server renders them", () => {
  it("outbound: the sentence, no names, no zip, no checksums; every sealed value escaped into an attribute", () => {
    const html = linkPage(base);
    expect(html).toContain("Encrypted end to end: the server cannot read these files; your browser decrypts them.");
    expect(html).toContain('<script src="/assets/e2e/encrypted-link.js" type="module"></script>');
    expect(html).not.toContain("3f1c0d11"); // the opaque name is of no use to the reader
    expect(html).not.toContain("archive");
    expect(html).not.toContain("a".repeat(64));
    expect(html).not.toContain("<script>alert");
    expect(html).toContain(`data-sealed="YWdl&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"`);
    expect(html).toContain(`data-sealed-message="YWdl&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"`);
    expect(html).toContain('data-scheme="age-x25519"');
    // The passphrase form is for the scrypt scheme: hidden here, and its field has no name to submit.
    expect(html).toMatch(/<form id="passphrase-form" class="password-form" hidden>/);
    expect(html).toMatch(/<input type="password" id="passphrase" autocomplete="off" autofocus>/);
  });

  it("outbound: a file used up through the link is marked for the script", () => {
    const html = linkPage({ ...base, files: [{ ...base.files[0]!, usedUp: true }] });
    expect(html).toMatch(/<li class="file" data-file-id="[^"]+" data-sealed="[^"]+" data-used-up>/);
  });

  it("inbound: the uploader carries the recipient to encrypt to; received files show no name", () => {
    const recipient = `age1${"q".repeat(58)}`;
    const html = linkPage({ ...base, direction: "inbound", encryption: { scheme: "age-x25519", recipient } });
    expect(html).toContain(`data-recipient="${recipient}"`);
    expect(html).toContain("your browser encrypts each file for Alice &quot;&gt;&lt;script&gt;");
    expect(html).toContain('<span class="name">Encrypted file</span>');
    expect(html).not.toContain("3f1c0d11");
  });

  it("inbound: an encrypted request without a recipient offers no uploader (it would send plaintext)", () => {
    const html = linkPage({ ...base, direction: "inbound", encryption: { scheme: "age-x25519" } });
    expect(html).not.toContain('id="uploader"');
    expect(html).not.toContain("upload.js");
    expect(html).toContain("carries no key to encrypt your files to");
  });
});
