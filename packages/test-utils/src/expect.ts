import { expect } from "vitest";

export interface ErrorBody {
  detail: string;
  code: string;
  errors?: { path: string; message: string }[];
}

/** The raw token format of the API contract: `sf_` + 43 base64url characters. */
export const RAW_TOKEN = /^sf_[A-Za-z0-9_-]{43}$/;

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * Asserts an error answer: the status and a JSON `{"detail": "<sentence>", "code": "<snake_case>"}`
 * body, the one error shape the API promises (and, with `code`, that stable code). The status and
 * body are compared together so a failure shows both.
 */
export async function expectError(res: Response, status: number, code?: string): Promise<ErrorBody> {
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  expect({ status: res.status, body }).toMatchObject({
    status,
    body: { detail: expect.any(String), code: code ?? expect.stringMatching(/^[a-z][a-z_]*[a-z]$/) },
  });
  expect(res.headers.get("content-type")).toMatch(/^application\/json/);
  const b = body as ErrorBody;
  expect(b.detail.trim().length).toBeGreaterThan(0);
  return b;
}

/** A 401 also tells the client how to authenticate. */
export async function expectUnauthorized(res: Response, code?: string): Promise<ErrorBody> {
  const body = await expectError(res, 401, code);
  expect(res.headers.get("www-authenticate")).toMatch(/^Bearer\b/);
  return body;
}

/**
 * A 422 with `errors[]` of `{path, message}`. When `field` is given, some error's path must point
 * at it (e.g. `/body/email`), so the client can tell which input was wrong.
 */
export async function expectValidationError(res: Response, field?: string, code?: string): Promise<ErrorBody> {
  const body = await expectError(res, 422, code);
  expect(body.errors).toBeInstanceOf(Array);
  expect(body.errors!.length).toBeGreaterThan(0);
  for (const e of body.errors!) {
    expect(e).toEqual({ path: expect.stringMatching(/^\//), message: expect.any(String) });
  }
  if (field !== undefined) {
    const paths = body.errors!.map((e) => e.path);
    expect(
      paths.some((p) => p === field || p.startsWith(`${field}/`)),
      `paths ${JSON.stringify(paths)} name ${field}`,
    ).toBe(true);
  }
  return body;
}
