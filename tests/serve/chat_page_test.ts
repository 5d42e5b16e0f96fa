// The chat page at / in a real headless browser (Debian chromium driven by playwright-core): a question
// typed in gets a streamed answer with the reasoning folded apart; the stop button ends a running answer;
// answers render as sanitized Markdown and the conversation survives a reload.
// Leaves a screenshot in test-artifacts/serve_chat_page.png.

import { chromium } from "playwright-core";
import type { BrowserContext } from "playwright-core";
import { assert, assertEquals, assertMatch } from "../assert.ts";
import { openLocalService } from "../../src/service/open_service.ts";
import { defaultSamplerParams } from "../../src/chat/sampler.ts";
import { startServer } from "../../src/serve/server.ts";
import { DEMO_MODEL, ROOT } from "../fixture_util.ts";
import { startStubServer } from "./serve_util.ts";

const CHROMIUM = "/usr/bin/chromium";
/** Debian's chromium is a CI dependency (.ci/run installs it); a machine with only Node and npm lacks it,
 * and these tests are then reported as ignored rather than failed. */
const NO_CHROMIUM = (() => {
  try {
    return !Deno.statSync(CHROMIUM).isFile;
  } catch {
    return true;
  }
})();
const ARTIFACTS = `${ROOT}/test-artifacts`;
/** Runs in the page (a string: the browser's DOM types are not Deno's). */
const ANSWERED = `!document.getElementById("send").disabled &&
  [...document.querySelectorAll(".msg.assistant .stats")].every((s) => s.textContent)`;

/** A headless chromium on an empty profile directory (playwright passes it as --user-data-dir). */
async function withBrowser(fn: (browser: BrowserContext) => Promise<void>): Promise<void> {
  try {
    Deno.statSync(CHROMIUM);
  } catch {
    throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (.ci/run installs it)`);
  }
  const profile = Deno.makeTempDirSync({ prefix: "ossi-chromium-" });
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
    timeout: 60_000,
  });
  try {
    await fn(browser);
  } finally {
    await browser.close();
    Deno.removeSync(profile, { recursive: true });
  }
}

Deno.test({
  name: "chat page: a typed question gets a streamed answer, reasoning folded apart (demo model)",
  ignore: NO_CHROMIUM,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const engine = await openLocalService(DEMO_MODEL, { backend: "ref", maxContext: 1024 });
    const server = startServer({
      engine,
      modelId: "tiny-oss-math",
      sampler: defaultSamplerParams(DEMO_MODEL),
    }, { hostname: "127.0.0.1", port: 0 });
    try {
      await withBrowser(async (browser) => {
        const page = await browser.newPage();
        await page.setViewportSize({ width: 900, height: 640 });
        await page.goto(`${server.url}/`);
        await page.locator("#model", { hasText: "tiny-oss-math" }).waitFor({ timeout: 10_000 });
        await page.selectOption("#effort", "low");
        // Counts text updates in the conversation, to see that answers arrive in pieces.
        await page.evaluate(`window.updates = 0;
          new MutationObserver((m) => { window.updates += m.length; })
            .observe(document.getElementById("log"), { childList: true, subtree: true, characterData: true });`);
        for (const q of ["What is 23+45?", "Sort 5 3 9 1"]) {
          await page.fill("#input", q);
          await page.press("#input", "Enter");
          // Done: send is enabled again and every answer shows its stats line (written at the end).
          await page.waitForFunction(ANSWERED, undefined, { timeout: 30_000 });
        }
        // Rendered as Markdown: each answer is a paragraph (its text ends with the HTML's newline).
        const answers = await page.locator(".msg.assistant .answer").allTextContents();
        assertEquals(answers.map((a) => a.trim()), ["68", "1 3 5 9"]);
        const updates = await page.evaluate("window.updates") as number;
        // All at once would be about 5 updates per answer; streamed, each delta is one.
        assert(updates > 25, `the answers streamed in (${updates} updates)`);
        const reasoning = page.locator(".msg.assistant .reasoning").first();
        assertEquals(await reasoning.isVisible(), true);
        assertEquals(
          await reasoning.evaluate((d) => (d as unknown as { open: boolean }).open),
          false,
          "reasoning starts folded",
        );
        assertMatch(await reasoning.locator(".text").textContent() ?? "", /So 68\./);
        await reasoning.locator("summary").click();
        assertMatch(
          await page.locator(".msg.assistant .stats").first().textContent() ?? "",
          /\d+ tokens, [\d.]+ tokens\/s/,
        );
        Deno.mkdirSync(ARTIFACTS, { recursive: true });
        await page.screenshot({ path: `${ARTIFACTS}/serve_chat_page.png`, fullPage: true });
      });
    } finally {
      await server.shutdown();
      await engine.close();
    }
  },
});

Deno.test({
  name: "chat page: the stop button ends a running answer and frees the engine",
  ignore: NO_CHROMIUM,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const s = await startStubServer({ delayMs: 60 });
    try {
      await withBrowser(async (browser) => {
        const page = await browser.newPage();
        await page.goto(`${s.url}/`);
        await page.locator("#model", { hasText: "stub-oss" }).waitFor({ timeout: 10_000 });
        await page.selectOption("#effort", "high");
        await page.fill("#input", "please echo this rather long sentence back to me slowly");
        await page.click("#send");
        await page.locator(".msg.assistant .reasoning .text", { hasText: "effort high" })
          .waitFor({ state: "attached", timeout: 10_000 });
        assert(await page.isEnabled("#stop"), "stop is enabled while answering");
        await page.click("#stop");
        await page.locator(".msg.assistant .stats", { hasText: "stopped" }).waitFor({ timeout: 10_000 });
        const answer = await page.locator(".msg.assistant .answer").textContent() ?? "";
        assert(!answer.includes("slowly"), `the answer was cut short: '${answer}'`);
        const t0 = Date.now();
        while (s.gen.aborted === 0 && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 20));
        assertEquals(s.gen.aborted, 1, "the generation was aborted");
        assert(await page.isEnabled("#send"), "send is enabled again");
      });
    } finally {
      await s.close();
    }
  },
});

Deno.test({
  name:
    "chat page: answers render as sanitized Markdown (code block with copy button, table, list); the conversation survives a reload and exports as JSON",
  ignore: NO_CHROMIUM,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const s = await startStubServer();
    try {
      await withBrowser(async (browser) => {
        const page = await browser.newPage();
        await page.setViewportSize({ width: 900, height: 700 });
        await page.goto(`${s.url}/`);
        await page.locator("#model", { hasText: "stub-oss" }).waitFor({ timeout: 10_000 });
        // The stub echoes the question, so the answer is this Markdown after "You said: ".
        const question =
          "Show code:\n```js\nlet x = 1;\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n- one\n- two\n\n" +
          "[link](javascript:alert(1))";
        await page.fill("#input", question);
        await page.press("#input", "Enter");
        await page.waitForFunction(ANSWERED, undefined, { timeout: 30_000 });
        const answer = page.locator(".msg.assistant .answer").first();
        assertEquals(await answer.locator("pre code").textContent(), "let x = 1;\n");
        assertEquals(await answer.locator("pre button.copy").textContent(), "Copy");
        assertEquals(await answer.locator("table td").allTextContents(), ["1", "2"]);
        assertEquals(await answer.locator("ul li").allTextContents(), ["one", "two"]);
        assertEquals(
          await answer.locator('a[href^="javascript"]').count(),
          0,
          "DOMPurify removed the script link",
        );
        Deno.mkdirSync(ARTIFACTS, { recursive: true });
        await page.screenshot({ path: `${ARTIFACTS}/serve_chat_markdown.png`, fullPage: true });

        await page.reload();
        await page.locator(".msg.assistant .answer pre code").waitFor({ timeout: 10_000 });
        assertEquals(await page.locator(".msg.user").count(), 1, "the question is back after the reload");
        assertEquals(await page.locator(".msg.assistant .answer pre code").textContent(), "let x = 1;\n");

        const [download] = await Promise.all([page.waitForEvent("download"), page.click("#export")]);
        const saved = JSON.parse(await Deno.readTextFile((await download.path())!));
        assertEquals(saved.format, "ossi-chat");
        assertEquals(saved.messages.map((m: { role: string }) => m.role), ["user", "assistant"]);
        assertEquals(saved.messages[0].content, question);
        assertMatch(saved.messages[1].content, /^You said: Show code:/);

        await page.click("#clear");
        await page.reload();
        await page.locator("#model", { hasText: "stub-oss" }).waitFor({ timeout: 10_000 });
        assertEquals(await page.locator(".msg").count(), 0, "New chat forgets the saved conversation");
      });
    } finally {
      await s.close();
    }
  },
});
