// Bundle the dashboard page (web/dashboard/app.ts) into dist/dashboard/app.js and copy its HTML
// and CSS next to it: the coordinator serves them as static files (no CDN, nothing to build on
// the user's side). Last step of `npm run build`: it also writes the build stamp.
import { build } from "esbuild";
import { copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const out = join(root, "dist", "dashboard");
mkdirSync(out, { recursive: true });
await build({
  entryPoints: [join(root, "web/dashboard/app.ts")],
  outfile: join(out, "app.js"),
  bundle: true,
  format: "esm",
  target: "es2022",
  minify: true,
  legalComments: "none",
  logLevel: "warning",
});
for (const file of ["index.html", "style.css"]) copyFileSync(join(root, "web/dashboard", file), join(out, file));
console.log("built dist/dashboard");
// The stamp tells scripts (quick start, deploy) the build is current.
writeFileSync(join(root, "dist", ".build-stamp"), `${new Date().toISOString()}\n`);
