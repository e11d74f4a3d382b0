import { describe, expect, it } from "vitest";
import { generateTestHeader, parseWebhookEvent, verifyWebhookSignature, WebhookSignatureError, type WebhookEvent } from "../src/index.js";

const secret = "whsec_0123456789abcdef0123456789abcdef0123456";
const event: WebhookEvent = { id: "3f0c1c36-8a55-4a7b-9a39-0b6f5c1e2a11", type: "ping", created_at: "2026-11-28T10:00:00.000Z", data: {} };

describe("webhook signatures (for receivers)", () => {
  it("generateTestHeader makes a header that verifies, for strings and bytes alike", () => {
    const body = JSON.stringify(event);
    const header = generateTestHeader({ payload: body, secret });
    expect(header).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
    expect(() => verifyWebhookSignature(body, header, secret)).not.toThrow();
    expect(() => verifyWebhookSignature(Buffer.from(body), header, secret)).not.toThrow();
    expect(parseWebhookEvent(new TextEncoder().encode(body), header, secret)).toEqual(event);
  });

  it("refuses the wrong secret, a changed body, an old or future timestamp, and junk", () => {
    const body = JSON.stringify(event);
    const t = 1_795_000_000;
    const header = generateTestHeader({ payload: body, secret, timestamp: t });
    const at = (s: number) => ({ now: new Date(s * 1000) });
    expect(() => verifyWebhookSignature(body, header, secret, at(t + 299))).not.toThrow();
    expect(() => verifyWebhookSignature(body, header, secret, at(t + 301))).toThrow(WebhookSignatureError);
    expect(() => verifyWebhookSignature(body, header, secret, at(t - 301))).toThrow(WebhookSignatureError);
    expect(() => verifyWebhookSignature(body, header, `${secret}x`, at(t))).toThrow(/does not match/);
    expect(() => verifyWebhookSignature(body.replace("ping", "pong"), header, secret, at(t))).toThrow(/does not match/);
    for (const junk of ["", "t=abc,v1=00", `v1=${"0".repeat(64)}`, `t=${t}`, `t=${t},v1=zz`]) {
      expect(() => verifyWebhookSignature(body, junk, secret, at(t))).toThrow(WebhookSignatureError);
    }
    expect(() => parseWebhookEvent(body, null, secret)).toThrow(WebhookSignatureError);
  });
});
