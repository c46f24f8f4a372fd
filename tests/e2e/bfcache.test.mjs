// Leaving the confirmation page: after reportOrder, the page stays eligible for Chromium's
// back/forward cache (the module listens for `pagehide`, never `unload` or `beforeunload`,
// which keep a page out of it). Shown two ways: going back restores the page from the cache
// (`pageshow` with `persisted: true`), and Chromium reports no reason for not caching it
// (CDP `Page.backForwardCacheNotUsed`). A control page with an `unload` listener is not
// cached, so the check can fail.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";

import { startDemo, waitFor } from "./harness.mjs";

let demo;
before(async () => {
  demo = await startDemo({ backForwardCache: true });
});
after(async () => {
  await demo?.stop();
});

/** Reports an order on the confirmation page, leaves for the inspector, and comes back. */
async function leaveAndComeBack({ addUnloadListener }) {
  const { context, page } = await demo.openPage();
  // Every `pageshow` of the document, kept on the document itself (restored with it).
  await page.addInitScript(() => {
    window.__pageshows = [];
    window.addEventListener("pageshow", (event) => window.__pageshows.push(event.persisted));
  });
  const cdp = await context.newCDPSession(page);
  await cdp.send("Page.enable");
  const notCached = [];
  cdp.on("Page.backForwardCacheNotUsed", (event) => notCached.push(event));

  const report = await demo.report(page, `${demo.base}/?sample=one-item`);
  assert.equal(report.relay.status, "accepted");
  if (addUnloadListener) await page.evaluate(() => window.addEventListener("unload", () => {}));
  await page.goto(`${demo.base}/inspector`);
  // A page restored from the cache fires no `load`: wait for the navigation to commit only.
  await page.goBack({ waitUntil: "commit" });
  const shows = await waitFor("the confirmation page to be shown again", async () => {
    const seen = await page.evaluate(() => window.__pageshows ?? []);
    return seen.length > 0 && (seen.length > 1 || seen[0] === false) ? seen : null;
  });
  await context.close();
  return { report, shows, notCached };
}

test("after reportOrder the confirmation page is restored from the back/forward cache", { timeout: 60_000 }, async () => {
  const { shows, notCached } = await leaveAndComeBack({ addUnloadListener: false });
  assert.deepEqual(notCached.map((e) => e.notRestoredExplanations), [], "Chromium names no reason for not caching the page");
  assert.deepEqual(shows, [false, true], "first shown fresh, then restored from the cache");
});

test("control: a page with an unload listener is not cached (the check above can fail)", { timeout: 60_000 }, async () => {
  const { shows, notCached } = await leaveAndComeBack({ addUnloadListener: true });
  assert.deepEqual(shows, [false], "loaded again, not restored");
  assert.equal(notCached.length, 1, "Chromium says why it did not cache the page");
});
