// Copies the chat page's two libraries from the npm packages deno.dev.json names into src/serve/ui/vendor/
// (committed, so the page works offline and in the standalone executable with no package at run time):
// marked (Markdown to HTML) and DOMPurify (HTML sanitizer), with their licenses.
// usage: deno task vendor:ui   (tests/serve/ui_vendor_test.ts checks the copies are current)

const ROOT = new URL("../", import.meta.url).pathname.replace(/\/$/, "");
export const VENDOR_DIR = `${ROOT}/src/serve/ui/vendor`;

/** vendor file name -> file in an npm package (resolved through deno.dev.json's import map). */
export const VENDORED: Record<string, string> = {
  "marked.umd.js": "marked/lib/marked.umd.js",
  "marked.LICENSE": "marked/LICENSE",
  "purify.min.js": "dompurify/dist/purify.min.js",
  "purify.LICENSE": "dompurify/LICENSE",
};

/** The package file's path in node_modules (the packages are installed under deno.dev.json). */
export function packageFile(spec: string): string {
  const [pkg, ...rest] = spec.split("/");
  return `${ROOT}/node_modules/${pkg}/${rest.join("/")}`;
}

if (import.meta.main) {
  // Importing the packages makes Deno install them into node_modules.
  await import("marked");
  await import("dompurify");
  Deno.mkdirSync(VENDOR_DIR, { recursive: true });
  for (const [name, spec] of Object.entries(VENDORED)) {
    Deno.copyFileSync(packageFile(spec), `${VENDOR_DIR}/${name}`);
  }
  console.error(`vendored ${Object.keys(VENDORED).join(", ")} into ${VENDOR_DIR}`);
}
