// The web page in a real browser (Debian's Chromium through playwright-core) against the real
// binary's coordinator and SMTP fixtures this test starts on 127.0.0.1: a probe submitted from the
// form with the matrix filling live, a transcript opened, the share link followed, a validation
// error shown next to its field, a token asked for and sent as a header only; and a target whose banner, greeting and certificate carry markup
// and script, whose report must show them as text and run nothing — live and through the share
// link (a stored report must not become stored cross-site scripting). Screenshots are kept in
// test-output/screenshots/.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testPki } from "../helpers/certs.js";
import { chromiumAvailable, launchBrowser, type Browser } from "../helpers/browser.js";
import { freePort } from "../helpers/free-port.js";
import { need } from "../helpers/requirements.js";
import { START_HOOK_TIMEOUT_MS, startCoordinatorProcess, type CoordinatorProcess } from "../helpers/processes.js";
import { startSmtpFixture, type SmtpFixture } from "../helpers/smtp-fixture.js";

const TEST_MS = 60_000;
const TOKEN = "a-token-for-the-page-0123456789";
/** Markup a hostile server sends; each would set window.__pwned (or open a dialog) if it ever ran. */
const HOSTILE_BANNER = `<img src=x onerror="window.__pwned='banner'"><script>window.__pwned='script'</script>`;
const HOSTILE_NAME = `<svg/onload=window.__pwned='greeting'>`;
const HOSTILE_CN = `<img src=x onerror=alert('cert')>`;

const chromium = await need(chromiumAvailable);

describe.skipIf(chromium.skip)("the web page, in Chromium", () => {
  let coordinator: CoordinatorProcess;
  let guarded: CoordinatorProcess;
  let guardedBase: string;
  let dir: string;
  let fixture: SmtpFixture;
  let hostile: SmtpFixture;
  let browser: Browser;
  let base: string;
  const dialogs: string[] = [];
  const pageErrors: string[] = [];

  beforeAll(async () => {
    const pki = await testPki();
    const hostileCert = await pki.leaf({ names: [HOSTILE_CN, "127.0.0.1"], freshKey: false });
    // A slow greeting: the matrix shows the task at work before it lands.
    fixture = await startSmtpFixture({ greetingDelayMs: 1_000 });
    hostile = await startSmtpFixture({ banner: HOSTILE_BANNER, name: HOSTILE_NAME, tls: hostileCert });
    const [httpPort, guardedPort] = [await freePort(), await freePort()];
    base = `http://127.0.0.1:${httpPort}`;
    guardedBase = `http://127.0.0.1:${guardedPort}`;
    dir = await mkdtemp(join(tmpdir(), "smtp-probe-page-"));
    await writeFile(join(dir, "tokens.txt"), `${TOKEN} page-user\n`);
    const policy = { allowCidrs: ["127.0.0.0/8"], allowPorts: [fixture.port, hostile.port] };
    [coordinator, guarded, browser] = await Promise.all([
      startCoordinatorProcess({ ...policy, extraArgs: ["--http-listen", `127.0.0.1:${httpPort}`] }),
      startCoordinatorProcess({ ...policy, extraArgs: ["--http-listen", `127.0.0.1:${guardedPort}`, "--auth-tokens", join(dir, "tokens.txt")], connect: { token: TOKEN } }),
      launchBrowser(),
    ]);
    browser.context.on("page", (page) => watch(page));
  }, START_HOOK_TIMEOUT_MS);

  afterAll(async () => {
    await browser?.close();
    await coordinator?.stop();
    await guarded?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
    await fixture?.stop();
    await hostile?.stop();
  });

  function watch(page: Page): void {
    page.on("dialog", (dialog) => {
      dialogs.push(dialog.message());
      void dialog.dismiss();
    });
    page.on("pageerror", (error) => pageErrors.push(error.message));
  }

  async function openPage(path = "/"): Promise<Page> {
    const page = await browser.context.newPage();
    await page.goto(`${base}${path}`);
    return page;
  }

  /** Fills the form for 127.0.0.1 on one port (typed as "other port") and submits it. */
  async function submitProbe(page: Page, port: number): Promise<void> {
    await page.waitForSelector("#region-local");
    await page.fill("#host", "127.0.0.1");
    await page.uncheck("#port-25");
    await page.uncheck("#port-587");
    await page.fill("#other-port", String(port));
    await page.click("#submit");
  }

  /** No script of a report ran, and no element came from one: only the page's own elements. */
  async function expectNothingInjected(page: Page): Promise<void> {
    const found = await page.evaluate(() => ({
      pwned: (window as unknown as { __pwned?: string }).__pwned,
      scripts: [...document.querySelectorAll("script")].map((s) => s.getAttribute("src")),
      foreign: document.querySelectorAll("#report img, #report svg, #report script, #report iframe, #report object").length,
    }));
    expect(found).toEqual({ pwned: undefined, scripts: ["/assets/app.js"], foreign: 0 });
    expect(dialogs).toEqual([]);
  }

  it("submits a probe, the matrix fills live, a transcript opens, the share link shows the report", { timeout: TEST_MS }, async () => {
    const page = await openPage();
    const started = Date.now();
    await page.waitForSelector("h1");
    const firstRenderMs = Date.now() - started;
    // Every change of the matrix as the page draws it.
    await page.evaluate(() => {
      const seen: string[] = [];
      (window as unknown as { __matrix: string[] }).__matrix = seen;
      new MutationObserver(() => seen.push(document.getElementById("matrix")?.textContent ?? "")).observe(document.getElementById("matrix")!, { childList: true, subtree: true, characterData: true });
    });
    await submitProbe(page, fixture.port);
    await page.waitForSelector("#live:not([hidden]) #matrix td");
    await page.screenshot({ path: browser.screenshotPath("probe-running") });
    await page.waitForSelector("#report:not([hidden]) #verdicts", { timeout: 30_000 });
    const states = await page.evaluate(() => (window as unknown as { __matrix: string[] }).__matrix);
    // While it ran, the cell showed the task at work, then its result.
    expect(states.some((s) => /waiting|queued|connect|banner|EHLO/i.test(s))).toBe(true);
    expect(await page.textContent("#report .matrix td")).toMatch(/^✔ [\d.]+ m?s TLSv1\.3$/);
    expect(await page.textContent("#verdicts")).toContain(`Port ${fixture.port} is open from local`);
    expect(await page.textContent("#findings")).toContain("Errors (1)");

    await page.click("#report details.task > summary");
    await page.click("#report details.transcript-box > summary");
    const transcript = await page.textContent("#report .transcript");
    expect(transcript).toContain("EHLO");
    expect(transcript).toContain("220: service ready");
    await page.screenshot({ path: browser.screenshotPath("report"), fullPage: true });

    const share = await page.getAttribute("#share-link", "href");
    expect(share).toMatch(/^\/p\/[0-9a-f-]{36}$/);
    expect(new URL(page.url()).pathname).toBe(share);
    const shared = await openPage(share!);
    await shared.waitForSelector("#report:not([hidden]) #verdicts");
    expect(await shared.textContent("#report .summary")).toContain(`127.0.0.1 · ports ${fixture.port}`);
    expect(pageErrors).toEqual([]);
    expect(firstRenderMs).toBeLessThan(5_000);

    // On a phone: nothing wider than the screen but what scrolls in its own box (matrix, transcript).
    await shared.setViewportSize({ width: 390, height: 844 });
    await shared.click("#report details.task > summary");
    expect(await shared.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth)).toBe(true);
    await shared.screenshot({ path: browser.screenshotPath("report-phone"), fullPage: true });
  });

  it("asks for a token when the coordinator wants one, sends it as a header, never in a URL", { timeout: TEST_MS }, async () => {
    const page = await browser.context.newPage();
    const requests: { url: string; authorization?: string }[] = [];
    page.on("request", (request) => requests.push({ url: request.url(), authorization: request.headers().authorization }));
    await page.goto(`${guardedBase}/`);
    await page.waitForSelector("#region-list .error");
    expect(await page.textContent("#region-list")).toContain("missing or invalid bearer token");
    expect(await page.getAttribute("#token-box", "open")).not.toBeNull();
    await page.fill("#token", TOKEN);
    await page.dispatchEvent("#token", "change");
    await page.reload();
    await submitProbe(page, fixture.port);
    await page.waitForSelector("#report:not([hidden]) #verdicts", { timeout: 30_000 });
    const api = requests.filter((r) => new URL(r.url).pathname.startsWith("/v1/"));
    expect(api.at(-1)?.authorization).toBe(`Bearer ${TOKEN}`);
    expect(requests.some((r) => r.url.includes(TOKEN))).toBe(false);
    expect(page.url()).not.toContain(TOKEN);
    expect(await page.getAttribute("#share-link", "href")).not.toContain(TOKEN);
    // Kept for this tab only: another tab (another session) has no token.
    const other = await browser.context.newPage();
    await other.goto(`${guardedBase}/`);
    expect(await other.evaluate(() => sessionStorage.length)).toBe(0);
  });

  it("shows a validation error next to its field, in the API's words", { timeout: TEST_MS }, async () => {
    const page = await openPage();
    await page.waitForSelector("#region-local");
    await page.fill("#host", "");
    await page.fill("#other-port", "99999");
    await page.click("#submit");
    await page.waitForSelector("#host-error:not([hidden])");
    expect(await page.textContent("#host-error")).toBe("host: is required");
    expect(await page.getAttribute("#host", "aria-invalid")).toBe("true");
    expect(await page.textContent("#ports-error")).toMatch(/^ports\[\d\]: 99999 is not a port \(1-65535\)$/);
    expect(await page.evaluate(() => document.activeElement?.id)).toBe("host");
    await page.screenshot({ path: browser.screenshotPath("validation-error") });
  });

  it("shows what a hostile server sends as text, runs none of it: live and through the share link", { timeout: TEST_MS }, async () => {
    const page = await openPage();
    await submitProbe(page, hostile.port);
    await page.waitForSelector("#report:not([hidden]) #verdicts", { timeout: 30_000 });
    await page.click("#report details.task > summary");
    await page.click("#report details.transcript-box > summary");
    const text = (await page.textContent("#report")) ?? "";
    expect(text).toContain(HOSTILE_BANNER);
    expect(text).toContain(HOSTILE_NAME);
    // The subject as the engine writes it (RFC 4514 escapes < and >), the name as it came.
    expect(await page.textContent("#report .cert-subject")).toContain("<img src=x onerror=alert('cert')");
    expect(text).toContain(`DNS:"${HOSTILE_CN}"`);
    await expectNothingInjected(page);
    await page.screenshot({ path: browser.screenshotPath("hostile-live"), fullPage: true });

    const shared = await openPage(new URL(page.url()).pathname);
    await shared.waitForSelector("#report:not([hidden]) #verdicts");
    await shared.click("#report details.task > summary");
    await shared.click("#report details.transcript-box > summary");
    expect(await shared.textContent("#report")).toContain(HOSTILE_BANNER);
    await expectNothingInjected(shared);
    await shared.screenshot({ path: browser.screenshotPath("hostile-shared"), fullPage: true });
    expect(pageErrors).toEqual([]);
  });
});
