// Environment that Mesa's drivers need before a WebGPU adapter is requested.

/**
 * Mesa's Vulkan/GL loaders print "XDG_RUNTIME_DIR is invalid or not set" on stderr when the variable is
 * missing (fresh machines, CI, `env -i`). Give them a private directory instead. Idempotent.
 */
export function ensureXdgRuntimeDir(): void {
  try {
    if (Deno.env.get("XDG_RUNTIME_DIR")) return;
    const dir = `${Deno.env.get("TMPDIR") ?? "/tmp"}/ossi-xdg-${Deno.uid() ?? 0}`;
    Deno.mkdirSync(dir, { recursive: true, mode: 0o700 });
    Deno.env.set("XDG_RUNTIME_DIR", dir);
  } catch {
    // Without env/write permission the loader only prints its warning; nothing else depends on it.
  }
}
