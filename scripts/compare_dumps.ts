// Compares two `ossi logits --dump` files step by step and names the first intermediate where they part.
// usage: deno run --allow-read scripts/compare_dumps.ts A.jsonl B.jsonl [--tol 2e-3]

interface Dump {
  name: string;
  layer: number;
  rows: number;
  values: number[];
}

export function readDump(path: string): Dump[] {
  return Deno.readTextFileSync(path).trim().split("\n").filter((l) => l).map((l) => JSON.parse(l));
}

/** One row per intermediate present in both dumps, in the order of `a`. */
export function compareDumps(a: Dump[], b: Dump[]): { key: string; maxAbs: number }[] {
  const byKey = new Map(b.map((d) => [`${d.name}@${d.layer}`, d]));
  const rows: { key: string; maxAbs: number }[] = [];
  for (const d of a) {
    const key = `${d.name}@${d.layer}`;
    const other = byKey.get(key);
    if (!other || other.values.length !== d.values.length) continue;
    let m = 0;
    for (let i = 0; i < d.values.length; i++) m = Math.max(m, Math.abs(d.values[i] - other.values[i]));
    rows.push({ key, maxAbs: m });
  }
  return rows;
}

if (import.meta.main) {
  const [pa, pb] = Deno.args.filter((a) => !a.startsWith("--"));
  const tolIndex = Deno.args.indexOf("--tol");
  const tol = tolIndex >= 0 ? Number(Deno.args[tolIndex + 1]) : 2e-3;
  if (!pa || !pb) {
    console.error("usage: compare_dumps.ts A.jsonl B.jsonl [--tol 2e-3]");
    Deno.exit(2);
  }
  const rows = compareDumps(readDump(pa), readDump(pb));
  let first: string | null = null;
  for (const r of rows) {
    const flag = r.maxAbs > tol ? "  <-- differs" : "";
    if (flag && !first) first = r.key;
    console.log(`${r.key.padEnd(36)} ${r.maxAbs.toExponential(3)}${flag}`);
  }
  console.log(
    first
      ? `first difference above ${tol}: ${first}`
      : `all ${rows.length} intermediates agree within ${tol}`,
  );
  Deno.exit(first ? 1 : 0);
}
