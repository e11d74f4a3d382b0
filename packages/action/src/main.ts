import { EnvHttpProxyAgent, setGlobalDispatcher } from "undici";
import { runAction } from "./run.js";

// The action's entry point (`runs.main` in action.yml, bundled): the only place that reads the
// process's environment or sets its exit code. Self-hosted runners behind a proxy set
// HTTPS_PROXY / NO_PROXY; the action's own calls honour them as the SDK's do.
setGlobalDispatcher(new EnvHttpProxyAgent());

runAction({ env: process.env, cwd: process.env.GITHUB_WORKSPACE || process.cwd(), log: (line) => process.stdout.write(`${line}\n`) }).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stdout.write(`::error::unexpected failure: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
