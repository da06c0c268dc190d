// MIMIC-CXR's tables (browser-safe): the split, metadata and label CSVs of MIMIC-CXR-JPG 2.0.0 / 2.1.0 joined
// on their ids into CheXpert-shaped records, and the files/pXX/pSUBJECT/sSTUDY/DICOM_ID path of each image.
import { CHEXPERT_OBSERVATIONS, type ChexpertRecord, type LabelValue, type Observation, parseCsv, parseLabel } from './chexpert.js';

/** MIMIC's split names; `valid` is accepted for `validate`. */
export type MimicSplit = 'train' | 'validate' | 'test';

/** The file names of the release (each also read gzipped, `.csv.gz`). */
export const MIMIC_FILES = {
  split: 'mimic-cxr-2.0.0-split.csv',
  metadata: 'mimic-cxr-2.0.0-metadata.csv',
  chexpert: 'mimic-cxr-2.0.0-chexpert.csv',
  negbio: 'mimic-cxr-2.0.0-negbio.csv',
} as const;

/** `valid` / `val` / `validation` -> `validate`; the others as they are. */
export function mimicSplit(split: string): MimicSplit {
  const s = split.trim().toLowerCase();
  if (s === 'valid' || s === 'val' || s === 'validation' || s === 'validate') return 'validate';
  if (s === 'train' || s === 'test') return s;
  throw new Error(`Unknown MIMIC-CXR split "${split}": use train, validate (or valid) or test.`);
}

/** CheXpert's view columns from MIMIC's ViewPosition: PA / AP (and their AXIAL, LLD, RLD variants) are frontal. */
export function mimicView(viewPosition: string): Pick<ChexpertRecord, 'frontalLateral' | 'apPa'> {
  const v = viewPosition.trim().toUpperCase();
  if (v === 'LATERAL' || v === 'LL' || v === 'RL' || v === 'XTABLE LATERAL') return { frontalLateral: 'Lateral', apPa: '' };
  const first = v.split(/\s+/)[0];
  if (first === 'PA' || first === 'AP') return { frontalLateral: 'Frontal', apPa: first };
  return { frontalLateral: '', apPa: '' }; // LAO, RAO, SWIMMERS, blank: only in 'all'
}

/** The image's path inside the release: files/p10/p10000032/s50414267/DICOM_ID.jpg */
export function mimicImagePath(subject: string, study: string, dicomId: string, ext: 'jpg' | 'dcm'): string {
  return `files/p${subject.slice(0, 2)}/p${subject}/s${study}/${dicomId}.${ext}`;
}

/** Rows of a CSV as objects keyed by its header, with a clear error naming missing columns. */
function table(text: string, name: string, required: readonly string[]): Record<string, string>[] {
  const rows = parseCsv(text);
  if (rows.length === 0) throw new Error(`${name} is empty.`);
  const header = rows[0]!.map((h) => h.trim());
  const missing = required.filter((c) => !header.includes(c));
  if (missing.length) throw new Error(`${name} lacks the column(s) ${missing.join(', ')}; found ${header.join(', ')}. Is it from MIMIC-CXR-JPG 2.0.0 / 2.1.0?`);
  return rows.slice(1).map((r) => Object.fromEntries(header.map((h, i) => [h, r[i] ?? ''])));
}

export interface MimicTables {
  split: string;
  metadata: string;
  labels: string;
}

/**
 * Joins MIMIC-CXR-JPG's tables into CheXpert-shaped records of one split: the split CSV picks the images, the
 * metadata CSV gives their ViewPosition, the chexpert / negbio CSV the study's labels (1, 0, -1, blank). Images
 * whose study has no label row are left out (counted in `unlabelled`). `path` is the image's path in the release.
 * @example const { records } = joinMimicTables(texts, 'validate', 'jpg');
 */
export function joinMimicTables(texts: MimicTables, split: MimicSplit, ext: 'jpg' | 'dcm'): { records: ChexpertRecord[]; unlabelled: number } {
  const splitRows = table(texts.split, MIMIC_FILES.split, ['dicom_id', 'study_id', 'subject_id', 'split']);
  const meta = new Map(table(texts.metadata, MIMIC_FILES.metadata, ['dicom_id', 'ViewPosition']).map((r) => [r.dicom_id!, r.ViewPosition!]));
  const labelRows = table(texts.labels, 'the label CSV', ['subject_id', 'study_id']);
  const labels = new Map<string, Record<Observation, LabelValue>>();
  for (const r of labelRows) {
    const l = {} as Record<Observation, LabelValue>;
    for (const o of CHEXPERT_OBSERVATIONS) l[o] = parseLabel(r[o] ?? '');
    labels.set(`${r.subject_id}/${r.study_id}`, l);
  }
  const records: ChexpertRecord[] = [];
  let unlabelled = 0;
  for (const r of splitRows) {
    if (r.split!.trim().toLowerCase() !== split) continue;
    const l = labels.get(`${r.subject_id}/${r.study_id}`);
    if (!l) {
      unlabelled++;
      continue;
    }
    const view = mimicView(meta.get(r.dicom_id!) ?? '');
    records.push({ path: mimicImagePath(r.subject_id!, r.study_id!, r.dicom_id!, ext), sex: '', age: NaN, ...view, labels: l });
  }
  return { records, unlabelled };
}
