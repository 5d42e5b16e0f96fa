// A plain text table for the bench scripts: columns padded to their widest cell, two spaces apart.

export function textTable(head: readonly string[], body: readonly (readonly string[])[]): string {
  const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  return [head, ...body].map((r) => r.map((v, i) => v.padEnd(w[i])).join("  ")).join("\n");
}
