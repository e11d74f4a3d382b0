import { defineConfig } from "vitest/config";
import { vitestOptions } from "../../vitest.shared.js";

const shared = vitestOptions("action");
export default defineConfig({ ...shared, test: { ...shared.test, globalSetup: ["test/global-setup.ts"] } });
