// DICOM in the demo page: a dropped or picked .dcm goes through decodeDicom (the library's root entry) with the
// intensity policy chosen on the page, and the window and policy in use are shown under the image input.
// The parser and codecs are bundled into the page and handed to decodeDicom once (provideDicomModules): the
// library itself loads them with dynamic imports that a browser without a bundler cannot resolve.
import * as tf from '@tensorflow/tfjs';
import * as dicomParser from 'dicom-parser';
import { Inflate, deflateSync } from 'fflate';
import * as jpegLossless from 'jpeg-lossless-decoder-js';
import libjpegTurbo from '@cornerstonejs/codec-libjpeg-turbo-8bit/decodewasmjs';
import charls from '@cornerstonejs/codec-charls/decodewasmjs';
import openjpeg from '@cornerstonejs/codec-openjpeg/decodewasmjs';
import openjph from '@cornerstonejs/codec-openjph';
import dcmjsCodecs from 'dcmjs-codecs';
import { decodeDicom, isDicom, provideDicomModules, type DicomImage, type IntensityPolicy } from '../../src/index.js';

// the codecs' .wasm files (served beside app.js by serve.mjs) are fetched with the page, so a DICOM decodes even
// after the server is gone (the page works offline once loaded, as for TF.js's own wasm)
async function wasm(name: string): Promise<Uint8Array<ArrayBuffer>> {
  const r = await fetch(new URL(name, location.href));
  if (!r.ok) throw new Error(`${name}: HTTP ${r.status}`);
  return new Uint8Array(await r.arrayBuffer());
}
type Factory = (o?: Record<string, unknown>) => Promise<unknown>;
const withWasm = (factory: Factory, wasmBinary: Uint8Array): Factory => (o = {}) => factory({ ...o, wasmBinary });
const [jpegWasm, lsWasm, j2kWasm, htWasm, dcmtkWasm] = await Promise.all(
  ['libjpegturbowasm_decode.wasm', 'charlswasm_decode.wasm', 'openjpegwasm_decode.wasm', 'openjphjs.wasm', 'dcmjs-native-codecs.wasm'].map(wasm),
);

provideDicomModules({
  dicomParser,
  fflate: { Inflate, deflateSync },
  jpegLossless,
  libjpegTurbo: withWasm(libjpegTurbo, jpegWasm!),
  charls: withWasm(charls, lsWasm!),
  openjpeg: withWasm(openjpeg, j2kWasm!),
  openjph: withWasm(openjph, htWasm!),
  // 12-bit lossy JPEG only (DCMTK's decoder, an optional peer). dcmjs-codecs fetches its wasm from a URL:
  // a blob URL of the bytes loaded with the page keeps the page working offline
  dcmjsCodecs,
  dcmjsCodecsWasm: URL.createObjectURL(new Blob([dcmtkWasm!], { type: 'application/wasm' })),
});

/** True for a .dcm / .dicom name or the DICOM media type (content is checked again when decoding). */
export function looksLikeDicomFile(file: File): boolean {
  return /\.(dcm|dicom)$/i.test(file.name) || file.type === 'application/dicom';
}

/** One line for the page: the policy, the window (or VOI LUT) used, inversion, the transfer syntax. */
export function describeDicom(img: DicomImage): string {
  const t = img.tags;
  const i = img.intensity;
  const voi =
    i.voi === 'window' && i.window
      ? `window ${i.window.function} centre ${i.window.center} width ${i.window.width}${i.window.explanation ? ` (${i.window.explanation})` : ''}`
      : i.voi === 'lut'
        ? 'VOI LUT Sequence'
        : i.voi === 'minmax'
          ? 'min-max scaling'
          : 'colour to grey';
  return `DICOM ${t.columns} x ${t.rows}, ${t.photometricInterpretation}, ${t.transferSyntaxName}; policy '${i.policy}': ${voi}${i.inverted ? ', inverted' : ''}`;
}

/**
 * Decodes a DICOM file to the page's image tensor (int32 grey replicated to RGB, 0-255, as fromPixels gives)
 * and a description of the window and policy.
 * @example const { image, description } = await loadDicomFile(file, 'voi');
 */
export async function loadDicomFile(file: File, policy: IntensityPolicy): Promise<{ image: tf.Tensor3D; description: string; width: number; height: number }> {
  const bytes = new Uint8Array(await file.arrayBuffer());
  if (!isDicom(bytes)) throw new Error(`'${file.name}' is not a DICOM Part 10 file (no DICM marker after the 128-byte preamble).`);
  const img = await decodeDicom(bytes, { policy, name: file.name });
  const grey = Int32Array.from(img.pixels, (v) => Math.round(v * 255));
  const image = tf.tidy(() => tf.tile(tf.tensor3d(grey, [img.height, img.width, 1], 'int32'), [1, 1, 3]) as tf.Tensor3D);
  return { image, description: describeDicom(img), width: img.width, height: img.height };
}

/** The policy chosen on the page (`#dicomPolicy`), default 'voi'. */
export function pagePolicy(): IntensityPolicy {
  const v = (document.getElementById('dicomPolicy') as HTMLSelectElement | null)?.value;
  return v === 'minmax' ? 'minmax' : 'voi';
}
