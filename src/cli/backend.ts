// `chexzoo backend`: the TF.js backend this machine uses (what ensureBackend chooses, or --backend NAME) and
// whether a hardware WebGPU adapter is there to be used with --backend webgpu.
import { failWith, parseCommand } from './args.js';

const USAGE = `Usage: chexzoo backend [--backend NAME] [--json]

Prints the backend chosen here (as train, eval and study choose it) with its details, then looks for a WebGPU
adapter: a hardware one can be used with --backend webgpu; a software one (SwiftShader, WARP, llvmpipe) runs
on the CPU and is used only with CHEXZOO_WEBGPU_SOFTWARE=1.
  --json               one JSON object { backend, webgpu } instead of text
`;

/** What the WebGPU probe found, as one sentence. */
export function webgpuVerdict(p: { adapter?: { software: boolean }; error?: string }, label: string, active = false): string {
  if (!p.adapter) return `WebGPU: not available here. ${p.error ?? ''}`.trim();
  if (active && p.adapter.software) return `WebGPU: in use on a software adapter, ${label} (allowed by CHEXZOO_WEBGPU_SOFTWARE=1): CPU speed, not a GPU.`;
  if (active) return `WebGPU: in use on ${label}.`;
  if (p.adapter.software) {
    return `WebGPU: only a software adapter, ${label}: it runs on the CPU (slower than wasm) and is used only with ` +
      'CHEXZOO_WEBGPU_SOFTWARE=1. For a GPU: Linux needs its Vulkan driver; macOS and Windows have WebGPU built in.';
  }
  return `WebGPU: hardware adapter ${label} is there: train on it with --backend webgpu (or CHEXZOO_BACKEND=webgpu).`;
}

/** Runs `chexzoo backend`; resolves to the exit code. */
export async function runBackend(argv: string[]): Promise<number> {
  const parsed = parseCommand('backend', USAGE, {
    args: argv,
    options: { json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    allowPositionals: false,
  });
  if (typeof parsed === 'number') return parsed;
  try {
    const { ensureBackend, backendInfo } = await import('../backend/index.js');
    const { adapterLabel, probeWebGPU } = await import('../backend/webgpu.js');
    await ensureBackend();
    const info = backendInfo()!;
    const probe = info.webgpu ? { adapter: info.webgpu } : await probeWebGPU();
    const verdict = webgpuVerdict(probe, probe.adapter ? adapterLabel(probe.adapter) : '', info.webgpu !== undefined);
    if (parsed.values.json) {
      console.log(JSON.stringify({ backend: info, webgpu: { ...probe, verdict } }, null, 2));
    } else {
      console.log(JSON.stringify(info, null, 2));
      if (probe.adapter) console.log(`WebGPU limits: ${JSON.stringify(probe.adapter.limits)}`);
      console.log(verdict);
    }
    return 0;
  } catch (e) {
    return failWith('backend', USAGE, e);
  }
}
