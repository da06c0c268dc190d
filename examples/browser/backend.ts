// The demo's backend: started from the page's address (?backend=auto|webgpu|webgl|wasm|cpu, and &software=1 to
// accept a software WebGPU adapter such as SwiftShader), shown in the header as e.g. "WebGPU (NVIDIA …)", and a
// small picker that reloads the page on another backend (a reload: tensors cannot follow a backend switch that
// needs a synchronous GPU read).
// Importing tfjs-backend-webgpu registers its kernels; ensureBackend picks the adapter (hardware unless allowed).
import '@tensorflow/tfjs-backend-webgpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { backendInfo, ensureBackend, type BackendInfo, type BackendName } from '../../src/index.js';

const CHOICES = ['auto', 'webgpu', 'webgl', 'wasm', 'cpu'] as const;

/** "WebGPU (SwiftShader driver 5.0.0, software)", "wasm (SIMD, 4 threads)", "webgl". */
export function backendLabel(info: BackendInfo): string {
  if (info.name === 'webgpu' && info.webgpu) {
    const g = info.webgpu;
    const name = g.description || [g.vendor, g.architecture].filter(Boolean).join(' ') || 'adapter';
    return `WebGPU (${name}${g.software ? ', software' : ''})`;
  }
  if (info.name === 'wasm') return `wasm (${info.simd ? 'SIMD' : 'no SIMD'}${info.threads && info.threads > 1 ? `, ${info.threads} threads` : ''})`;
  return info.name;
}

/** Starts the backend the address asks for (auto: hardware WebGPU, WebGL, wasm, cpu); returns its info. */
export async function startBackend(): Promise<BackendInfo> {
  setWasmPaths(new URL('./', location.href).href);
  const q = new URLSearchParams(location.search);
  const wanted = q.get('backend');
  const allowSoftware = q.get('software') === '1';
  await ensureBackend(wanted && wanted !== 'auto' ? { backend: wanted as BackendName, allowSoftware } : undefined);
  return backendInfo()!;
}

/** Fills the backend picker (a <select>) and reloads the page with the chosen backend. */
export function mountBackendPicker(select: HTMLSelectElement, active?: string): void {
  const q = new URLSearchParams(location.search);
  const current = q.get('backend') ?? 'auto';
  for (const c of CHOICES) select.add(new Option(c === 'auto' ? `auto${active ? ` (${active})` : ''}` : c, c, false, c === current));
  select.addEventListener('change', () => {
    q.set('backend', select.value);
    location.search = q.toString();
  });
}
