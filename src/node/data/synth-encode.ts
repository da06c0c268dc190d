// Encoders and the MIMIC-CXR tables of the synthetic dataset writer: one image as JPEG, PNG or DICOM (spread
// over the syntaxes our writer produces, a third of them MONOCHROME1), and a CheXpert-format split as MIMIC's
// split / metadata / chexpert / negbio CSVs (gzipped, as MIMIC-CXR-JPG ships them).
import sharp from 'sharp';
import { gzipSync } from 'node:zlib';
import { CHEXPERT_OBSERVATIONS } from '../../data/chexpert.js';
import type { SynthImage, SynthRecord } from '../../data/synth.js';
import { MIMIC_FILES, mimicImagePath } from '../../data/mimic.js';
import { encodeDicom, type WritableSyntax } from '../../dicom/write.js';
import { encodeGrayJpeg } from './images.js';

export type SynthFormat = 'jpeg' | 'png' | 'dicom';
export type SynthLayout = 'chexpert' | 'mimic';
export const SYNTH_EXT: Record<SynthFormat, string> = { jpeg: 'jpg', png: 'png', dicom: 'dcm' };

const DICOM_SYNTAXES: WritableSyntax[] = ['explicit', 'implicit', 'big-endian', 'deflate', 'rle'];

/**
 * The i-th synthetic image as DICOM: syntax i mod 5, 12-bit stored in 16 for even i (8-bit otherwise),
 * MONOCHROME1 (stored inverted) for every third, with a window that maps the stored range back onto [0, 1],
 * so decodeDicom's default policy gives the rendered grey levels again.
 */
export async function synthDicom(img: SynthImage, i: number, viewPosition: string): Promise<Uint8Array> {
  const twelve = i % 2 === 0;
  const top = twelve ? 4095 : 255;
  const mono1 = i % 3 === 2;
  const n = img.width * img.height;
  const pixels = twelve ? new Uint16Array(n) : new Uint8Array(n);
  for (let p = 0; p < n; p++) {
    const v = twelve ? Math.round((img.data[p]! * 4095) / 255) : img.data[p]!;
    pixels[p] = mono1 ? top - v : v;
  }
  return encodeDicom({
    pixels, width: img.width, height: img.height, bitsStored: twelve ? 12 : 8, syntax: DICOM_SYNTAXES[i % DICOM_SYNTAXES.length]!,
    photometric: mono1 ? 'MONOCHROME1' : 'MONOCHROME2', window: { center: (top + 1) / 2, width: top + 1 }, viewPosition, instance: i,
  });
}

/** One rendered image in the requested format. */
export async function encodeSynth(img: SynthImage, format: SynthFormat, quality: number, i: number, viewPosition: string): Promise<Uint8Array> {
  if (format === 'jpeg') return encodeGrayJpeg(img.data, img.width, img.height, quality);
  if (format === 'png') return sharp(Buffer.from(img.data), { raw: { width: img.width, height: img.height, channels: 1 } }).png().toBuffer();
  return synthDicom(img, i, viewPosition);
}

/** MIMIC's ids for a synthetic record: subject 1XXXXXXX from the patient, study 5XXXXXXX, a hex dicom_id. */
export function mimicIds(r: SynthRecord): { subject: string; study: string; dicomId: string } {
  const m = /patient(\d+)\/study(\d+)\/view(\d+)_/.exec(r.path);
  if (!m) throw new Error(`Unexpected synthetic path ${r.path}`);
  const [patient, study, view] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const subject = String(10_000_000 + patient);
  const studyId = String(50_000_000 + patient * 10 + study);
  const hex = (x: number) => (x >>> 0).toString(16).padStart(8, '0');
  const h = Math.imul(patient * 131 + study * 17 + view, 0x9e3779b1);
  return { subject, study: studyId, dicomId: `${hex(h)}-${hex(h ^ 0x5bd1e995)}-${hex(Math.imul(h, 31))}-${hex(patient)}-${hex(study * 16 + view)}` };
}

/** Where a record's image goes: CheXpert's own path, or MIMIC's files/pXX/pSUBJECT/sSTUDY/DICOM_ID. */
export function synthImagePath(r: SynthRecord, layout: SynthLayout, format: SynthFormat): string {
  const ext = SYNTH_EXT[format];
  if (layout === 'chexpert') return r.path.replace(/^[^/]+\//, '').replace(/\.jpg$/, `.${ext}`);
  const { subject, study, dicomId } = mimicIds(r);
  return mimicImagePath(subject, study, dicomId, format === 'dicom' ? 'dcm' : 'jpg').replace(/\.jpg$/, `.${ext}`);
}

/** MIMIC-CXR's four tables for the synthetic splits (train -> train, valid -> validate), gzipped. */
export function mimicTables(splits: Record<'train' | 'valid', SynthRecord[]>): Record<string, Uint8Array> {
  const split = [['dicom_id', 'study_id', 'subject_id', 'split']];
  const meta = [['dicom_id', 'subject_id', 'study_id', 'ViewPosition']];
  const labels = [['subject_id', 'study_id', ...CHEXPERT_OBSERVATIONS]];
  const seen = new Set<string>();
  for (const [name, records] of [['train', splits.train], ['validate', splits.valid]] as const) {
    for (const r of records) {
      const { subject, study, dicomId } = mimicIds(r);
      split.push([dicomId, study, subject, name]);
      meta.push([dicomId, subject, study, r.frontalLateral === 'Lateral' ? 'LATERAL' : r.apPa || 'PA']);
      if (seen.has(study)) continue;
      seen.add(study);
      labels.push([subject, study, ...CHEXPERT_OBSERVATIONS.map((o) => (r.labels[o] === null ? '' : `${r.labels[o]}.0`))]);
    }
  }
  const gz = (rows: string[][]) => gzipSync(rows.map((row) => row.join(',')).join('\n') + '\n');
  return { [`${MIMIC_FILES.split}.gz`]: gz(split), [`${MIMIC_FILES.metadata}.gz`]: gz(meta), [`${MIMIC_FILES.chexpert}.gz`]: gz(labels), [`${MIMIC_FILES.negbio}.gz`]: gz(labels) };
}
