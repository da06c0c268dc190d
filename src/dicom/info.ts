// The image description and the technical tags of a parsed data set. Only the tags listed here are read:
// nothing that identifies a patient (names, ids, dates, institutions, UIDs) reaches a result.
import { DicomError } from './errors.js';
import type { TransferSyntax } from './syntaxes.js';

/**
 * Largest image (rows x columns) that is decoded, DICOM frames and (through `MAX_INPUT_PIXELS`) PNG / JPEG alike:
 * 50 megapixels, about 7070 x 7070. Full-resolution CheXpert radiographs are about 2320 x 2828 (6.6 MP) and other
 * chest X-ray sets stay under ~4300 x 3500 (15 MP), so every real image passes, while a decompression bomb (a small
 * file declaring gigapixels) is refused from its header before any memory is allocated.
 */
export const MAX_DICOM_PIXELS = 50_000_000;

export interface ImageInfo {
  rows: number;
  columns: number;
  samplesPerPixel: number;
  bitsAllocated: number;
  bitsStored: number;
  pixelRepresentation: 0 | 1;
  photometric: string;
  planarConfiguration: number;
  frames: number;
}

/** The technical tags of a decoded file (no patient-identifying tag is ever read). */
export interface DicomTags {
  photometricInterpretation: string;
  rows: number;
  columns: number;
  samplesPerPixel: number;
  bitsAllocated: number;
  bitsStored: number;
  pixelRepresentation: 0 | 1;
  numberOfFrames: number;
  transferSyntaxUID: string;
  transferSyntaxName: string;
  rescaleSlope?: number;
  rescaleIntercept?: number;
  /** mm between pixel centres [row, column]: Pixel Spacing, else Imager Pixel Spacing */
  pixelSpacing?: [number, number];
  modality?: string;
  viewPosition?: string;
  windowCenter?: number[];
  windowWidth?: number[];
  windowExplanation?: string[];
  voiLutFunction?: string;
  presentationLutShape?: string;
  hasModalityLutSequence: boolean;
  hasVoiLutSequence: boolean;
}

const str = (ds: any, tag: string): string | undefined => {
  const v = ds.string(tag);
  return v === undefined || v === '' ? undefined : String(v).replace(/\0/g, '').trim();
};

/** All values of a multi-valued DS / IS element, or undefined. */
function numbers(ds: any, tag: string): number[] | undefined {
  const n = ds.numStringValues(tag);
  if (!n) return undefined;
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const v = ds.floatString(tag, i);
    if (v !== undefined && Number.isFinite(v)) out.push(v);
  }
  return out.length ? out : undefined;
}

function strings(ds: any, tag: string): string[] | undefined {
  const n = ds.numStringValues(tag);
  if (!n) return undefined;
  return Array.from({ length: n }, (_, i) => String(ds.string(tag, i) ?? '').trim());
}

/** Reads and checks the Image Pixel module; refuses what cannot be decoded before anything is allocated. */
export function readImageInfo(ds: any, file: string, maxPixels = MAX_DICOM_PIXELS): ImageInfo {
  if (!ds.elements.x7fe00010) throw new DicomError('the file has no Pixel Data (7FE0,0010): it is not an image (a report, a structured document or a presentation state?).', file);
  const rows = ds.uint16('x00280010') ?? 0;
  const columns = ds.uint16('x00280011') ?? 0;
  if (!rows || !columns) throw new DicomError(`Rows (0028,0010) and Columns (0028,0011) must be positive; got ${rows} x ${columns}.`, file);
  if (rows * columns > maxPixels) throw new DicomError(`the image declares ${columns} x ${rows} = ${rows * columns} pixels, more than the limit of ${maxPixels} (maxPixels); refusing to decode it.`, file);
  const samplesPerPixel = ds.uint16('x00280002') ?? 1;
  const bitsAllocated = ds.uint16('x00280100') ?? 0;
  const bitsStored = ds.uint16('x00280101') ?? bitsAllocated;
  const pixelRepresentation = ds.uint16('x00280103') ?? 0;
  const photometric = str(ds, 'x00280004') ?? (samplesPerPixel === 3 ? 'RGB' : 'MONOCHROME2');
  const frames = Math.max(1, Math.trunc(ds.intString('x00280008') ?? 1));
  if (samplesPerPixel !== 1 && samplesPerPixel !== 3) throw new DicomError(`Samples per Pixel ${samplesPerPixel} is not read (1 or 3 are).`, file);
  if (bitsAllocated !== 8 && bitsAllocated !== 16) throw new DicomError(`Bits Allocated ${bitsAllocated} is not read (8 or 16 are; 1-bit overlays and 32-bit floats are refused).`, file);
  if (!(bitsStored >= 1 && bitsStored <= bitsAllocated)) throw new DicomError(`Bits Stored ${bitsStored} does not fit Bits Allocated ${bitsAllocated}.`, file);
  if (pixelRepresentation !== 0 && pixelRepresentation !== 1) throw new DicomError(`Pixel Representation must be 0 or 1; got ${pixelRepresentation}.`, file);
  if (samplesPerPixel === 3 && bitsAllocated !== 8) throw new DicomError('colour images with 16 bits per sample are not read.', file);
  const mono = photometric === 'MONOCHROME1' || photometric === 'MONOCHROME2';
  const colour = ['RGB', 'YBR_FULL', 'YBR_FULL_422', 'YBR_ICT', 'YBR_RCT'].includes(photometric);
  if ((samplesPerPixel === 1 && !mono) || (samplesPerPixel === 3 && !colour)) {
    throw new DicomError(`Photometric Interpretation ${photometric} with ${samplesPerPixel} sample(s) per pixel is not read (MONOCHROME1/2, RGB, YBR_FULL, YBR_FULL_422, YBR_ICT, YBR_RCT are).`, file);
  }
  const planarConfiguration = ds.uint16('x00280006') ?? 0;
  return { rows, columns, samplesPerPixel, bitsAllocated, bitsStored, pixelRepresentation: pixelRepresentation as 0 | 1, photometric, planarConfiguration, frames };
}

/** The technical tags of the result. */
export function readTags(ds: any, info: ImageInfo, syntax: TransferSyntax): DicomTags {
  const spacing = numbers(ds, 'x00280030') ?? numbers(ds, 'x00181164');
  const tags: DicomTags = {
    photometricInterpretation: info.photometric,
    rows: info.rows,
    columns: info.columns,
    samplesPerPixel: info.samplesPerPixel,
    bitsAllocated: info.bitsAllocated,
    bitsStored: info.bitsStored,
    pixelRepresentation: info.pixelRepresentation,
    numberOfFrames: info.frames,
    transferSyntaxUID: syntax.uid,
    transferSyntaxName: syntax.name,
    hasModalityLutSequence: !!ds.elements.x00283000?.items?.length,
    hasVoiLutSequence: !!ds.elements.x00283010?.items?.length,
  };
  const optional: Partial<DicomTags> = {
    rescaleSlope: ds.floatString('x00281053'),
    rescaleIntercept: ds.floatString('x00281052'),
    pixelSpacing: spacing && spacing.length >= 2 ? [spacing[0]!, spacing[1]!] : undefined,
    modality: str(ds, 'x00080060'),
    viewPosition: str(ds, 'x00185101'),
    windowCenter: numbers(ds, 'x00281050'),
    windowWidth: numbers(ds, 'x00281051'),
    windowExplanation: strings(ds, 'x00281055'),
    voiLutFunction: str(ds, 'x00281056'),
    presentationLutShape: str(ds, 'x20500020'),
  };
  for (const [k, v] of Object.entries(optional)) if (v !== undefined && !(typeof v === 'number' && !Number.isFinite(v))) (tags as any)[k] = v;
  return tags;
}
