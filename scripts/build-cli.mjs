// Bundle the ocf CLI (src/cli/main.ts and everything it loads) into dist/ocf/: one entry and a few
// shared chunks instead of ~150 modules and their packages to resolve on every run. A short
// command such as `ocf exec` starts ~45 ms faster and a worker holds ~10 MB less (BENCHMARKS.md).
// bin/ocf runs dist/ocf/main.js; dist/cli/ (tsc's output) stays for tests and library use.
// better-sqlite3 stays external (a native addon, loaded from node_modules).
import { build } from "esbuild";
import { rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const out = join(root, "dist", "ocf");
rmSync(out, { recursive: true, force: true });
await build({
  entryPoints: [join(root, "src/cli/main.ts")],
  outdir: out,
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node22",
  external: ["better-sqlite3"],
  // CommonJS packages inside an ES module bundle still call require() for Node's built-ins.
  banner: { js: "import { createRequire as __ocfCreateRequire } from 'node:module'; const require = __ocfCreateRequire(import.meta.url);" },
  legalComments: "none",
  logLevel: "warning",
});
console.log("built dist/ocf");
