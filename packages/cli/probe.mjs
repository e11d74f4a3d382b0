import { SpeedyFiles } from "@speedyfiles/sdk";
import { execFileSync } from "node:child_process";
const sf = new SpeedyFiles({ baseUrl: "http://127.0.0.1:38755", token: "sf_2UFbGoKMPdnL5klHkWMuKDBF1snYHh-IRsVkizI4Xhc" });
for (let i = 0; i < 3; i++) {
  const pkg = await sf.packages.create({ title: "p", recipient_email: "a@b.co", direction: "outbound", ttl_days: 1 });
  let t = performance.now();
  await sf.uploadFile(pkg.id, "/tmp/b128.bin");
  const a = performance.now() - t;
  t = performance.now();
  execFileSync("curl", ["-s", "-o", "/dev/null", "-H", "Authorization: Bearer sf_2UFbGoKMPdnL5klHkWMuKDBF1snYHh-IRsVkizI4Xhc", "-F", "file=@/tmp/b128.bin", "http://127.0.0.1:38755/api/v1/packages/" + pkg.id + "/files"]);
  const b = performance.now() - t;
  console.log("sdk", a.toFixed(0), "curl", b.toFixed(0));
  await sf.packages.delete(pkg.id);
}
