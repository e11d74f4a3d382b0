// The seed's Python flow (create → upload two files → finalize → print the link) with the SDK.
// Typechecked by `pnpm typecheck`; the README shows the same code importing "@speedyfiles/sdk".
import { SpeedyFiles } from "../src/index.js";

const sf = new SpeedyFiles({ baseUrl: "https://files.example.com", token: process.env.SF_TOKEN });

const { magic_link } = await sf.send({
  files: ["Q4-report.pdf", "Q4-spreadsheet.xlsx"],
  to: "cfo@acme.com",
  recipient_name: "Acme CFO",
  title: "Q4 financials",
  ttl_days: 14,
});
console.log("Magic link:", magic_link);

// The same, step by step, when you want control over each call.
const pkg = await sf.packages.create({
  title: "Q4 financials",
  recipient_email: "cfo@acme.com",
  recipient_name: "Acme CFO",
  direction: "outbound",
  ttl_days: 14,
});
for (const path of ["Q4-report.pdf", "Q4-spreadsheet.xlsx"]) await sf.uploadFile(pkg.id, path);
const result = await sf.packages.finalize(pkg.id);
console.log("Magic link:", result.magic_link);
