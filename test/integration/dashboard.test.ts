/**
 * The web dashboard in a real headless Chromium (Debian's, driven by playwright-core): log in
 * with a link from `ocf dashboard --json`, see the workers live, approve a pending one, broadcast
 * `hostname` and see every result, watch a stopped worker turn offline, and check the login and
 * CSRF rules (a used link, no cookie, no CSRF header, a read-only session, logout, a 360 px screen).
 * Screenshots go to test-artifacts/.
 */
import assert from "node:assert/strict";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { chromium, type Browser, type Page } from "playwright-core";
import { createUser } from "@nats-io/nkeys";
import { DASHBOARD_DIR } from "../../src/coordinator/http/dashboard-routes.js";
import { keyFingerprint } from "../../src/protocol/fingerprint.js";
import { signJoinRequest } from "../../src/protocol/signed-join.js";
import { joinPayload } from "../helpers/fixtures.js";
import { REPO_ROOT, runCli, TestFleet } from "../helpers/fleet.js";

const CHROMIUM = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find((path) => existsSync(path));
const SKIP = !CHROMIUM ? "Debian's chromium is not installed (apt-get install -y chromium; .ci/run does it)" : !existsSync(join(DASHBOARD_DIR, "app.js")) ? "the dashboard is not built (npm run build)" : undefined;
if (SKIP) console.log(`\n[dashboard] SKIPPED — ${SKIP}\n`);
const ARTIFACTS = join(REPO_ROOT, "test-artifacts");

describe("web dashboard in headless Chromium", { skip: SKIP, timeout: 180_000 }, () => {
  const fleet = new TestFleet({ coordinator: { heartbeat_timeout: 2, heartbeat_check_interval: 0.2 } });
  let browser: Browser;
  let page: Page;
  let link = "";
  const env = (): NodeJS.ProcessEnv => ({ OCF_URL: fleet.coordinator?.url, OCF_TOKEN: fleet.token });
  const newLink = async (token?: string): Promise<string> => {
    const run = await runCli(["dashboard", "--json"], { env: { ...env(), ...(token ? { OCF_TOKEN: token } : {}) } });
    assert.equal(run.code, 0, run.stderr);
    return (JSON.parse(run.stdout) as { url: string }).url;
  };

  before(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    await fleet.startNats();
    await fleet.startCoordinator();
    await fleet.addApprovedWorker("alpha", { labels: { site: "home" } });
    await fleet.addApprovedWorker("beta", { labels: { site: "office" } });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    });
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  });
  after(async () => {
    await browser?.close();
    await fleet.close();
  });

  test("a link from ocf dashboard logs in once and shows both workers online", async () => {
    link = await newLink();
    assert.match(link, /^http:\/\/127\.0\.0\.1:\d+\/login\?t=[A-Za-z0-9_-]{40,}$/);
    const response = await page.goto(link);
    assert.equal(new URL(page.url()).pathname, "/");
    assert.equal(response?.status(), 200);
    const cookie = (await page.context().cookies()).find((c) => c.name === "ocf_session");
    assert.equal(cookie?.httpOnly, true);
    assert.equal(cookie?.sameSite, "Strict");
    await page.locator('tr[data-node="alpha"][data-status="online"]').waitFor({ timeout: 10_000 });
    await page.locator('tr[data-node="beta"][data-status="online"]').waitFor({ timeout: 10_000 });
    assert.match((await page.locator("#health").textContent()) ?? "", /ok · NATS secure · 2\/2 nodes online/);
  });

  test("a used link, a request without the cookie and one without the CSRF header are refused", async () => {
    const again = await browser.newPage();
    const response = await again.goto(link);
    assert.equal(response?.status(), 401);
    assert.match(await again.content(), /Link used or expired/);
    await again.close();
    const base = new URL(link).origin;
    assert.equal((await fetch(`${base}/api/v1/events`)).status, 401);
    assert.equal((await fetch(`${base}/api/v1/nodes`)).status, 401);
    const cookie = (await page.context().cookies()).find((c) => c.name === "ocf_session");
    const forged = await fetch(`${base}/api/v1/broadcast/stream`, { method: "POST", headers: { cookie: `ocf_session=${cookie?.value}`, "content-type": "application/json" }, body: JSON.stringify({ command: "touch /tmp/ocf-csrf" }) });
    assert.equal(forged.status, 403);
    const crossSite = await fetch(`${base}/api/v1/pending/x/approve`, { method: "POST", headers: { cookie: `ocf_session=${cookie?.value}`, origin: "http://evil.example", "x-ocf-csrf": "guess", "content-type": "application/json" }, body: "{}" });
    assert.equal(crossSite.status, 403);
  });

  test("a pending request shows its key fingerprint and address, and its text stays text (never HTML)", async () => {
    const key = createUser();
    const hostile = `<img src=x onerror="document.title='pwned'">`;
    const response = await fetch(`${fleet.coordinator?.url}/api/v1/enroll`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(signJoinRequest(key, joinPayload("markup", { hostname: hostile }))),
    });
    assert.equal(response.status, 200);
    const item = page.locator('#pending li[data-request]', { hasText: "markup" });
    await item.waitFor({ timeout: 10_000 });
    const text = (await item.textContent()) ?? "";
    assert.ok(text.includes(hostile), text);
    assert.ok(text.includes(`key ${keyFingerprint(key.getPublicKey())}`), text);
    assert.ok(text.includes("from 127.0.0.1"), text);
    assert.equal(await page.locator("#pending img").count(), 0, "no element was made from the hostname");
    assert.notEqual(await page.title(), "pwned");
    await fleet.client.reject("markup");
    await item.waitFor({ state: "detached", timeout: 10_000 });
  });

  test("a pending worker appears and is approved from the page", async () => {
    await fleet.startWorker("gamma");
    const approve = page.getByRole("button", { name: "Approve gamma" });
    await approve.waitFor({ timeout: 10_000 });
    await approve.click();
    await page.locator('tr[data-node="gamma"][data-status="online"]').waitFor({ timeout: 15_000 });
    assert.equal(await page.locator("#pending li").count(), 0);
  });

  test("broadcast hostname from the page: three results stream in", async () => {
    await page.getByLabel("Where to run").selectOption("*");
    await page.getByRole("textbox", { name: "Command", exact: true }).fill("hostname");
    await page.getByRole("button", { name: "Run" }).click();
    await page.locator('#results li[data-status="ok"]').nth(2).waitFor({ timeout: 15_000 });
    assert.equal(await page.locator("#results li").count(), 3);
    await page.locator("#run-summary", { hasText: "3 node(s): 3 ok" }).waitFor({ timeout: 5000 });
    await page.screenshot({ path: join(ARTIFACTS, "dashboard.png"), fullPage: true });
  });

  test("a stopped worker turns offline on the page within the heartbeat timeout", async () => {
    const stopped = Date.now();
    await fleet.stopWorker("beta");
    await page.locator('tr[data-node="beta"][data-status="offline"]').waitFor({ timeout: 10_000 });
    const took = Date.now() - stopped;
    // heartbeat_timeout 2 s + check 0.2 s + the page's 1 s push.
    assert.ok(took < 5000, `offline on the page after ${took} ms`);
  });

  test("readable at 360 px: no sideways scrolling of the page", async () => {
    await page.setViewportSize({ width: 360, height: 780 });
    await page.waitForTimeout(300);
    const width = (await page.evaluate("document.documentElement.scrollWidth")) as number;
    assert.ok(width <= 360, `page is ${width} px wide`);
    await page.screenshot({ path: join(ARTIFACTS, "dashboard-360.png"), fullPage: true });
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  test("a read-only session sees the fleet but cannot run or approve", async () => {
    const read = (await fleet.client.createToken("dash-reader", "read")).token;
    const viewer = await browser.newPage();
    await viewer.goto(await newLink(read));
    await viewer.locator('tr[data-node="alpha"]').waitFor({ timeout: 10_000 });
    assert.equal(await viewer.getByRole("button", { name: "Run" }).isDisabled(), true);
    assert.match((await viewer.locator("#who").textContent()) ?? "", /\(read\)/);
    await viewer.close();
  });

  test("logout ends the session", async () => {
    await page.getByRole("button", { name: "Log out" }).click();
    await page.locator("#login", { hasText: "Not logged in" }).waitFor({ timeout: 10_000 });
    const cookie = (await page.context().cookies()).find((c) => c.name === "ocf_session");
    assert.equal(cookie, undefined);
  });
});
