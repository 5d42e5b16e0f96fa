#!/usr/bin/env bash
# WebGPU checks on a lent GPU machine (the `device` tool; nothing outside it is reachable there), in one run
# of under 9 minutes (each step gets what is left of DEVCHECK_BUDGET seconds, default 510): the webgpu kernel
# and fixture tests, a full 24-layer synthetic gpt-oss-20b generated there benchmarked on WebGPU (prefill 512
# tokens, decode; tokens/s with the dispatches, submits and weight bytes per token), its profile (greedy
# decode, per-kernel GPU time with timestamp-query), the kernel variant pairs (scripts/webgpu_kernel_bench.ts),
# and the wasm backend on the same machine's CPU for scale.
#
# Prepare once on the workstation (these folders are git-ignored and must be carried):
#   deno task build:asm                    # build/ossi_kernels.wasm (the wasm backend, the bandwidth probe)
#   scripts/device_check.sh --prepare      # .devcheck/deno.xz (this machine's deno), .gl/*.deb (loaders)
# Then, with the device tool:  run(command="bash scripts/device_check.sh", carry=[".gl", ".devcheck",
#                                   "build"], timeout_s=540)
# Nothing can be downloaded there, so everything runs in a copy of the tree whose deno.json names no npm
# packages (deno.json's npm imports would otherwise be fetched at startup).
# A dry run on a CPU adapter: DEVCHECK_FALLBACK=1 DEVCHECK_LAYERS=1 DEVCHECK_PREFILL=4 DEVCHECK_DECODE=2.
# Output lines are also written under $OUT (device_check.log, bench.jsonl, profile.txt, kernels.txt) when
# OUT is set.
set -uo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = "--prepare" ]; then
  mkdir -p .devcheck .gl /tmp/amd64/partial
  exclude=$(git rev-parse --git-path info/exclude) # .git is a file in a worktree
  mkdir -p "$(dirname "$exclude")"
  for p in /.devcheck/ /.gl/; do grep -qx "$p" "$exclude" 2>/dev/null || echo "$p" >>"$exclude"; done
  xz -T2 -6 -c "$(readlink -f "$(command -v deno)")" >.devcheck/deno.xz
  o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
  # shellcheck disable=SC2086
  apt-get $o update -qq && (cd .gl && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
  ls -la .devcheck .gl
  exit 0
fi

layers="${DEVCHECK_LAYERS:-24}" prefill="${DEVCHECK_PREFILL:-512}" decode="${DEVCHECK_DECODE:-32}"
budget="${DEVCHECK_BUDGET:-510}"
out="${OUT:-/tmp/device_check_out}"
mkdir -p "$out"
log="$out/device_check.log"
exec > >(tee "$log") 2>&1
exec 3>&1 # stamps go here, past the pipes and captures that steps sit in
t_start=$(date +%s)
stamp() { echo "== $(($(date +%s) - t_start))s: $*" >&3; }
# seconds a step may take: its cap, or what is left of the budget (0: skip the step)
allow() {
  local left=$((budget - ($(date +%s) - t_start)))
  if [ "$left" -lt 20 ]; then echo 0; elif [ "$left" -lt "$1" ]; then echo "$left"; else echo "$1"; fi
}
step() { # step CAP DESCRIPTION -- COMMAND...
  local cap="$1" what="$2"
  shift 3
  local t
  t=$(allow "$cap")
  if [ "$t" = 0 ]; then stamp "SKIPPED (out of time): $what"; return 1; fi
  stamp "$what (up to ${t}s)"
  timeout "$t" "$@"
}

# Vulkan/GL loaders: the machine has the NVIDIA driver but maybe no loader.
if ! ldconfig -p | grep -q libvulkan.so.1; then
  for f in .gl/*.deb; do dpkg -x "$f" /; done
  ldconfig
fi
if [ -f /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ] && [ -z "${VK_DRIVER_FILES:-}" ] &&
  ! ls /usr/share/vulkan/icd.d/nvidia* /etc/vulkan/icd.d/nvidia* >/dev/null 2>&1; then
  export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
  export __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
fi
mkdir -p /tmp/devbin && xz -dc .devcheck/deno.xz >/tmp/devbin/deno && chmod +x /tmp/devbin/deno
export PATH=/tmp/devbin:$PATH DENO_NO_UPDATE_CHECK=1 NO_COLOR=1
export XDG_RUNTIME_DIR=/tmp/xdg-devcheck OSSI_CACHE=/tmp/ossi-cache
tree=/tmp/ossi-devtree
rm -rf "$tree" && mkdir -p "$tree" && cp -r src scripts shaders tests build "$tree"/ || exit 1
echo '{ "nodeModulesDir": "none" }' >"$tree/deno.json"
cd "$tree" || exit 1
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null
deno eval 'const a = await navigator.gpu.requestAdapter({ powerPreference: "high-performance" });
  console.log("adapter:", a ? `${a.info.vendor} ${a.info.architecture} ${a.info.description}` : "NONE");
  if (a) console.log("features:", [...a.features].join(","), "maxStorageBufferBindingSize", a.limits.maxStorageBufferBindingSize);
  if (!a || (a.info.isFallbackAdapter && !Deno.env.get("DEVCHECK_FALLBACK"))) Deno.exit(3);' || { echo "no hardware WebGPU adapter"; exit 3; }

# (the CLI test spawns src/main.ts, whose npm imports cannot be fetched there)
step 100 "webgpu tests (kernels vs the scalar reference, fixtures)" -- deno test -A --no-lock \
  --ignore=tests/backends/webgpu/cli_webgpu_test.ts,tests/backends/webgpu/cli_dense_test.ts tests/backends/webgpu/ 2>&1 |
  grep -E "FAILED|ok \||passed|error" | tail -15

synth=$(step 150 "synthetic $layers-layer gpt-oss-20b" -- deno eval --no-lock 'import { cachedSynth20b } from "./scripts/synth_checkpoint.ts";
  console.log(await cachedSynth20b(Number(Deno.args[0])));' "$layers") || { echo "synth failed"; exit 1; }
echo "$synth" && du -sh "$synth"

step 130 "bench webgpu: prefill $prefill, decode $decode (logits read back every token; counts per token)" -- \
  deno run -A --no-lock scripts/bench.ts --json --backends webgpu --models 20b --layers "$layers" \
  --prefill "$prefill" --decode "$decode" | tee "$out/bench.jsonl"

step 110 "profile: greedy decode (4 bytes read back per token), counts per step, per-kernel GPU time" -- \
  deno run -A --no-lock scripts/webgpu_profile.ts "$synth" --prefill "$prefill" --decode "$((2 * decode))" |
  tee "$out/profile.txt"

step 60 "kernel variant pairs at 20b shapes (interleaved)" -- \
  deno run -A --no-lock scripts/webgpu_kernel_bench.ts --reps 7 --tokens "$((prefill < 128 ? prefill : 128))" |
  tee "$out/kernels.txt"

step 90 "bench wasm on this machine's CPU ($(nproc) threads) for scale: prefill 32, decode 8" -- \
  deno run -A --no-lock --v8-flags=--expose-gc scripts/bench.ts --json --backends wasm --models 20b \
  --layers "$layers" --prefill 32 --decode 8 | tee -a "$out/bench.jsonl"
stamp "done"
