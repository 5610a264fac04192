// Bundle the OpenClaw plugin entry (src/bridge/openclaw-plugin.ts and what it imports) into one
// self-contained ESM file, plugins/openclaw/index.js, as OpenClaw loads it from a copied folder.
import { build } from "esbuild";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
await build({
  entryPoints: [join(root, "src/bridge/openclaw-plugin.ts")],
  outfile: join(root, "plugins/openclaw/index.js"),
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node22",
  legalComments: "none",
  banner: { js: "// Built by scripts/build-plugin.mjs from src/bridge/openclaw-plugin.ts; do not edit." },
  logLevel: "warning",
});
console.log("built plugins/openclaw/index.js");
