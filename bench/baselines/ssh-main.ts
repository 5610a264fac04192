/**
 * `node --import tsx bench/baselines/ssh-main.ts`: the ssh baselines on their own (private sshd on
 * 20 loopback addresses), progress on stdout, then the section's rows and skips as JSON.
 */
import { measureSsh } from "./ssh.js";

const started = performance.now();
const result = await measureSsh({ quick: false, runs: 50, fanoutRuns: 5, targets: 20, log: console.log });
console.log(JSON.stringify(result, null, 2));
console.log(`ssh baselines took ${((performance.now() - started) / 1000).toFixed(1)} s`);
