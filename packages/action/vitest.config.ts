import { defineConfig } from "vitest/config";
import { vitestOptions } from "../../vitest.shared.js";

export default defineConfig(vitestOptions("action"));
