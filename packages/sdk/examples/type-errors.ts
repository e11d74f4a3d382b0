// Compile-time tests: each line below must NOT compile. `pnpm typecheck` (tsc --noEmit) fails
// with "Unused '@ts-expect-error' directive" the day one of them starts to compile.
import { createApiClient, SpeedyFiles } from "../src/index.js";

const sf = new SpeedyFiles({ baseUrl: "http://localhost:8080", token: "sf_x" });
const api = createApiClient({ baseUrl: "http://localhost:8080" });

export async function wrongFieldNames(): Promise<void> {
  // @ts-expect-error misspelled `title`
  await sf.packages.create({ titel: "Q4", recipient_email: "a@b.co", direction: "outbound", ttl_days: 7 });
  // @ts-expect-error camelCase instead of the API's snake_case `recipient_email`
  await sf.packages.create({ title: "Q4", recipientEmail: "a@b.co", direction: "outbound", ttl_days: 7 });
  // @ts-expect-error an extra, unknown field
  await sf.packages.create({ title: "Q4", recipient_email: "a@b.co", direction: "outbound", ttl_days: 7, ttl: 7 });
  // @ts-expect-error `direction` is "outbound" | "inbound"
  await sf.packages.create({ title: "Q4", recipient_email: "a@b.co", direction: "outgoing", ttl_days: 7 });
  // @ts-expect-error `ttl_days` is a number
  await sf.packages.create({ title: "Q4", recipient_email: "a@b.co", direction: "outbound", ttl_days: "7" });
  // @ts-expect-error `ttl_days` is required
  await sf.packages.create({ title: "Q4", recipient_email: "a@b.co", direction: "outbound" });
  // @ts-expect-error there is no role "root"
  await sf.admin.users.create({ email: "b@b.co", name: "B", password: "long enough", role: "root" });
  // @ts-expect-error `disabled` is a boolean
  await sf.admin.users.update("id", { disabled: "yes" });
  // @ts-expect-error not a status
  await sf.packages.list({ status: "archived" });
  // @ts-expect-error not a filter
  sf.packages.iterate({ direction: "sideways" });
  // @ts-expect-error send() takes `to`, not `recipient`
  await sf.send({ files: ["a"], recipient: "a@b.co" });
  // @ts-expect-error one casing: API words are the spec's snake_case (`ttl_days`), not `ttlDays`
  await sf.send({ files: ["a"], to: "a@b.co", ttlDays: 3 });
  // @ts-expect-error `recipient_name`, as in the API, not `recipientName`
  await sf.send({ files: ["a"], to: "a@b.co", recipientName: "A" });
  // @ts-expect-error `expires_in_days`, as in the API
  await sf.tokens.create("ci", { expiresInDays: 30 });
  // @ts-expect-error `files` is a list
  await sf.send({ files: "a", to: "a@b.co" });
  // @ts-expect-error request() takes `from`
  await sf.request({ to: "a@b.co" });
  // @ts-expect-error login needs email, password and the token's name
  await sf.auth.login("a@b.co", "pw");
  // @ts-expect-error a number is not an upload source
  await sf.uploadFile("pkg", 42);
  // @ts-expect-error the option is `onProgress`
  await sf.uploadFile("pkg", "a.txt", { progress: () => undefined });
  // @ts-expect-error the constructor option is `baseUrl`
  new SpeedyFiles({ url: "http://localhost" });
}

export async function wrongResultFields(): Promise<void> {
  const r = await sf.send({ files: ["a"], to: "a@b.co" });
  // @ts-expect-error the field is `magic_link`
  console.log(r.magicLink);
  const pkg = await sf.packages.get("id");
  // @ts-expect-error files have `sha256`, not `hash`
  console.log(pkg.files[0]?.hash);
  const me = await sf.me();
  // @ts-expect-error users have `role`, not `roles`
  console.log(me.roles);
}

export async function lowLevelClient(): Promise<void> {
  // @ts-expect-error no such path in openapi.yaml
  await api.GET("/package");
  // @ts-expect-error wrong body field on the low-level client too
  await api.POST("/packages", { body: { title: "Q4", recipientEmail: "a@b.co", direction: "outbound", ttl_days: 7 } });
  // @ts-expect-error the path parameter `id` is required
  await api.GET("/packages/{id}", { params: { path: {} } });
  // @ts-expect-error per_page is a number
  await api.GET("/packages", { params: { query: { per_page: "20" } } });
}
