// `ossi pull <org/name>`: downloads a model from the Hugging Face Hub into the shared HF cache, with a
// progress bar on stderr, resume after interruption, and size/sha256 checks.

import { OssiError } from "../errors.ts";
import { formatBytes, hubCacheDir, isHubId } from "../io/hub.ts";
import { type PullLayout, pullModel } from "../io/hub_download.ts";
import { stringFlag } from "./args.ts";
import { commandHelp, parseCommandArgs } from "./options.ts";
import { ProgressBar, writeErr, writeOut } from "./term.ts";

const HELP = commandHelp(
  "pull",
  `usage: ossi pull ORG/NAME[@REVISION] [--layout hub|original|all] [--revision REV]

Downloads a model into the Hugging Face cache ($HF_HUB_CACHE, else $HF_HOME/hub, else
~/.cache/huggingface/hub), where other tools find it too. --layout hub (default) fetches the
transformers layout (config.json, *.safetensors, tokenizer files); original fetches original/ plus the
tokenizer and config files; all fetches everything. An interrupted download resumes when run again.
HF_TOKEN (for gated or private models) and HF_ENDPOINT (a mirror) are honoured.
Prints the snapshot folder on stdout; exit 3 when the download fails.`,
);

export async function main(argv: string[]): Promise<number> {
  const args = parseCommandArgs("pull", argv);
  if (args.flags.has("help")) {
    console.log(HELP);
    return 0;
  }
  if (args.positionals.length !== 1) {
    throw new OssiError("pull: give one model id, e.g. ossi pull openai/gpt-oss-20b", 2);
  }
  const [id, atRev] = args.positionals[0].split("@", 2);
  if (!isHubId(id)) {
    throw new OssiError(`pull: '${args.positionals[0]}' is not a Hub id like openai/gpt-oss-20b`, 2);
  }
  const layout = (stringFlag(args, "layout") ?? "hub") as PullLayout;
  const revision = stringFlag(args, "revision") ?? (atRev || "main");

  const bar = new ProgressBar();
  await writeErr(`ossi: pulling ${id}@${revision} into ${hubCacheDir()}\n`);
  const result = await pullModel(id, {
    revision,
    layout,
    onProgress: (p) => bar.update(p.doneBytes, p.totalBytes, p.file, formatBytes),
    onFileDone: (file, status) => {
      bar.clear();
      void writeErr(`  ${status === "cached" ? "cached    " : "downloaded"} ${file}\n`);
    },
  }).finally(() => bar.clear());
  await writeOut(`${result.snapshotDir}\n`);
  return 0;
}
