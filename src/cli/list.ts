// `ossi list`: the models in the Hugging Face cache (id, size, snapshot path), and the demo model.

import { OssiError } from "../errors.ts";
import { demoModelDir, formatBytes, hubCacheDir, listCachedModels } from "../io/hub.ts";
import { commandHelp, parseCommandArgs } from "./options.ts";
import { writeOut } from "./term.ts";

const HELP = commandHelp(
  "list",
  `usage: ossi list [--json]

Lists the models in the Hugging Face cache (${"$"}HF_HUB_CACHE, else ${"$"}HF_HOME/hub, else
~/.cache/huggingface/hub): id, size on disk and snapshot folder. --json prints one JSON array.`,
);

export async function main(argv: string[]): Promise<number> {
  const args = parseCommandArgs("list", argv);
  if (args.flags.has("help")) {
    console.log(HELP);
    return 0;
  }
  if (args.positionals.length > 0) {
    throw new OssiError(`list: unexpected argument '${args.positionals[0]}'`, 2);
  }
  const models = listCachedModels();
  if (args.flags.has("json")) {
    await writeOut(
      JSON.stringify(
        models.map((m) => ({ id: m.id, revision: m.revision, size_bytes: m.sizeBytes, path: m.path })),
      ) + "\n",
    );
    return 0;
  }
  const rows = models.map((m) => [m.id, formatBytes(m.sizeBytes), m.path]);
  if (rows.length === 0) {
    await writeOut(`no models in ${hubCacheDir()} (ossi pull openai/gpt-oss-20b fetches one)\n`);
  } else {
    const w0 = Math.max(2, ...rows.map((r) => r[0].length));
    const w1 = Math.max(4, ...rows.map((r) => r[1].length));
    const lines = [["ID", "SIZE", "PATH"], ...rows].map((r) =>
      `${r[0].padEnd(w0)}  ${r[1].padStart(w1)}  ${r[2]}`
    );
    await writeOut(lines.join("\n") + "\n");
  }
  await writeOut(`demo model (used when no gpt-oss is cached): ${demoModelDir()}\n`);
  return 0;
}
