// DICOM files in the Node image path: decodeGray hands them here (by extension or by the DICM magic), so every
// reader of images (datasets, eval, the study) takes .dcm beside JPEG and PNG.
import { open, readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { decodeDicom, isDicom, type IntensityPolicy } from '../../dicom/index.js';

/** How DICOM files become grey pixels (see docs/dicom.md). */
export interface DicomReadOptions {
  /** Default `'voi'`; `'minmax'` matches MIMIC-CXR-JPG's conversion. */
  policy?: IntensityPolicy;
  voiIndex?: number;
  frame?: number;
}

const DICOM_EXT = /\.(dcm|dicom|dic)$/i;
const IMAGE_EXT = /\.(jpe?g|png|webp|tiff?|gif|avif|bmp)$/i;

/** True when `source` is a DICOM file: a .dcm / .dicom path, or bytes (or a file without an image extension) starting like one. */
export async function looksLikeDicom(source: string | Uint8Array): Promise<boolean> {
  if (typeof source !== 'string') return isDicom(source);
  if (DICOM_EXT.test(source)) return true;
  if (IMAGE_EXT.test(source)) return false;
  const fh = await open(source, 'r').catch(() => undefined);
  if (!fh) return false;
  try {
    const head = new Uint8Array(132);
    const { bytesRead } = await fh.read(head, 0, 132, 0);
    return bytesRead === 132 && isDicom(head);
  } finally {
    await fh.close();
  }
}

/**
 * A DICOM file (path or bytes) as 8-bit grey at full size: decodeDicom's [0, 1] pixels rounded to 255 levels,
 * the depth the JPEG path (and MIMIC-CXR-JPG) works at.
 * @example const g = await readDicomGray('a.dcm', { policy: 'minmax' }, 50_000_000);
 */
export async function readDicomGray(source: string | Uint8Array, options: DicomReadOptions = {}, maxPixels?: number): Promise<{ data: Uint8Array; width: number; height: number }> {
  const bytes = typeof source === 'string' ? new Uint8Array(await readFile(source)) : source;
  const name = typeof source === 'string' ? basename(source) : '<bytes>';
  const img = await decodeDicom(bytes, { ...options, name, maxPixels });
  const px = img.pixels;
  const data = new Uint8Array(px.length);
  // floor(v + 0.5) is Math.round for v >= 0, and exact here (a float32 times 255 has <= 32 significant bits);
  // it is 3x faster than Math.round over a radiograph's millions of pixels
  for (let i = 0; i < data.length; i++) data[i] = (px[i]! * 255 + 0.5) | 0;
  return { data, width: img.width, height: img.height };
}
