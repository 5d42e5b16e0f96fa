// A one-memory harness for calling asm kernels from tests: allocate, write typed arrays, read results back.

import {
  Arena,
  instantiateKernels,
  type Kernels,
  readKernelsWasm,
  sharedMemory,
} from "../../../src/backends/wasm/kernels.ts";

const module = new WebAssembly.Module(readKernelsWasm() as BufferSource);

export class Harness {
  readonly k: Kernels;
  readonly memory: WebAssembly.Memory;
  private readonly arena = new Arena();
  constructor(pages = 256) {
    this.memory = sharedMemory(pages);
    this.k = instantiateKernels(module, this.memory);
  }
  /** Copies `data` into fresh memory and returns its offset. */
  put(data: Float32Array | Int32Array | Uint8Array | Uint16Array): number {
    const at = this.arena.alloc(data.byteLength);
    new Uint8Array(this.memory.buffer, at, data.byteLength).set(
      new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    );
    return at;
  }
  zeros(bytes: number): number {
    const at = this.arena.alloc(bytes);
    new Uint8Array(this.memory.buffer, at, bytes).fill(0);
    return at;
  }
  f32(at: number, n: number): Float32Array {
    return new Float32Array(this.memory.buffer, at, n).slice();
  }
  i32(at: number, n: number): Int32Array {
    return new Int32Array(this.memory.buffer, at, n).slice();
  }
}
