// The chat page's vendored libraries (src/serve/ui/vendor/) are byte-for-byte the npm builds deno.dev.json
// pins (re-vendor with `deno task vendor:ui` after changing a version), and the server serves them.

import "marked";
import "dompurify";
import { assertEquals } from "../assert.ts";
import { packageFile, VENDOR_DIR, VENDORED } from "../../scripts/vendor_ui.ts";
import { serveUi } from "../../src/serve/ui_files.ts";

Deno.test("ui vendor: the vendored files equal the pinned npm packages' builds; the page's scripts are served", async () => {
  for (const [name, spec] of Object.entries(VENDORED)) {
    assertEquals(
      Deno.readFileSync(`${VENDOR_DIR}/${name}`),
      Deno.readFileSync(packageFile(spec)),
      `${name} is stale: run deno task vendor:ui`,
    );
  }
  for (const path of ["/ui/vendor/marked.umd.js", "/ui/vendor/purify.min.js"]) {
    const res = await serveUi(path);
    assertEquals(res?.headers.get("content-type"), "text/javascript; charset=utf-8");
    await res?.body?.cancel();
  }
  const html = await (await serveUi("/"))!.text();
  for (const src of html.matchAll(/<script src="([^"]+)"/g)) {
    assertEquals((await serveUi(src[1]))?.status, 200, src[1]);
  }
});
