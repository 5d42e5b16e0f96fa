// Serves the chat page's static files from src/serve/ui/ (plain HTML, CSS and browser JS: no build step;
// the Markdown renderer and HTML sanitizer are vendored npm builds in ui/vendor/, see scripts/vendor_ui.ts).

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".svg": "image/svg+xml",
};

/** The fixed set of files the page is made of; anything else is not served. */
const FILES = new Map([
  ["/", "index.html"],
  ["/index.html", "index.html"],
  ["/ui/style.css", "style.css"],
  ["/ui/app.js", "app.js"],
  ["/ui/vendor/marked.umd.js", "vendor/marked.umd.js"],
  ["/ui/vendor/purify.min.js", "vendor/purify.min.js"],
]);

export async function serveUi(pathname: string): Promise<Response | null> {
  const name = FILES.get(pathname);
  if (!name) return null;
  const body = await Deno.readFile(new URL(`./ui/${name}`, import.meta.url));
  const ext = name.slice(name.lastIndexOf("."));
  return new Response(body, { headers: { "content-type": TYPES[ext], "cache-control": "no-cache" } });
}
