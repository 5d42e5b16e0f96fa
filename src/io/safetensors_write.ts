// Writes safetensors files (for synthetic checkpoints and tests). Tensors are laid out in the given
// order, each data offset aligned to 8 bytes from the start of the data section.

import type { DType } from "./safetensors.ts";

export interface TensorToWrite {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly bytes: Uint8Array;
}

/** Serialises tensors into one safetensors byte array. */
export function encodeSafetensors(
  tensors: readonly TensorToWrite[],
  metadata: Record<string, string> = { format: "pt" },
): Uint8Array {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  const placed: [TensorToWrite, number][] = [];
  for (const t of tensors) {
    offset = Math.ceil(offset / 8) * 8;
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.bytes.byteLength] };
    placed.push([t, offset]);
    offset += t.bytes.byteLength;
  }
  let json = JSON.stringify(header);
  json += " ".repeat((8 - ((8 + json.length) % 8)) % 8); // pad so the data section starts 8-aligned
  const head = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + head.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(head.length), true);
  out.set(head, 8);
  for (const [t, off] of placed) out.set(t.bytes, 8 + head.length + off);
  return out;
}

/** Streams tensors to a file without holding the whole file in memory (for multi-GB checkpoints). */
export async function writeSafetensorsFile(
  path: string,
  infos: readonly { name: string; dtype: DType; shape: readonly number[]; byteLength: number }[],
  fill: (index: number) => Uint8Array | Promise<Uint8Array>,
  metadata: Record<string, string> = { format: "pt" },
): Promise<void> {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  const offsets: number[] = [];
  for (const t of infos) {
    offset = Math.ceil(offset / 8) * 8;
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.byteLength] };
    offsets.push(offset);
    offset += t.byteLength;
  }
  let json = JSON.stringify(header);
  json += " ".repeat((8 - ((8 + json.length) % 8)) % 8);
  const head = new TextEncoder().encode(json);
  const f = await Deno.open(path, { write: true, create: true, truncate: true });
  try {
    const len = new Uint8Array(8);
    new DataView(len.buffer).setBigUint64(0, BigInt(head.length), true);
    await writeAll(f, len);
    await writeAll(f, head);
    let pos = 0;
    for (let i = 0; i < infos.length; i++) {
      if (offsets[i] > pos) await writeAll(f, new Uint8Array(offsets[i] - pos));
      const bytes = await fill(i);
      if (bytes.byteLength !== infos[i].byteLength) {
        throw new Error(`tensor ${infos[i].name}: wrong byte length`);
      }
      await writeAll(f, bytes);
      pos = offsets[i] + bytes.byteLength;
    }
  } finally {
    f.close();
  }
}

async function writeAll(f: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  let off = 0;
  while (off < bytes.length) off += await f.write(bytes.subarray(off));
}
