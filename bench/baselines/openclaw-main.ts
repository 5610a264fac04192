/** `node --import tsx bench/baselines/openclaw-main.ts`: the OpenClaw node-path baseline on its own, as JSON. */
import { measureOpenClaw } from "./openclaw.js";

const result = await measureOpenClaw({ quick: false, runs: 10, log: console.log });
console.log(JSON.stringify(result, null, 2));
