// Drops this process's resident pages of memory-mapped weight files once their bytes sit in wasm memory
// (implemented in io/mmap.ts, which the WebGPU backend uses too).

export { releaseMappedPages } from "../../io/mmap.ts";
