// Everything at once; a test that needs one helper can import its own module instead
// (`@speedyfiles/test-utils/server`), which loads less (no Chromium driver, no S3 client).
export * from "./browser.js";
export * from "./csv.js";
export * from "./expect.js";
export * from "./fixtures.js";
export * from "./legacy-names.js";
export * from "./links.js";
export * from "./nginx.js";
export * from "./process.js";
export * from "./receiver.js";
export * from "./s3.js";
export * from "./server.js";
export * from "./smtp.js";
export * from "./uploads.js";
export * from "./web-browser.js";
export * from "./web.js";
