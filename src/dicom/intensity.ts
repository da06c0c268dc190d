// Intensity as pydicom 2.3.1 computes it (apply_modality_lut, then apply_voi_lut: the VOI LUT Sequence when
// present, else the window with LINEAR / LINEAR_EXACT / SIGMOID), then the policy's scaling to [0, 1] and the
// MONOCHROME1 / INVERSE inversion. tools/make_dicom_fixtures.py computes the same with pydicom itself.
import { DicomError } from './errors.js';
import type { ImageInfo } from './info.js';

/** `'voi'`: what a radiologist sees (window or VOI LUT); `'minmax'`: raw values min-max scaled (MIMIC-CXR-JPG). */
export type IntensityPolicy = 'voi' | 'minmax';

/** What decodeDicom did to the intensities. */
export interface IntensityApplied {
  policy: IntensityPolicy;
  /** the VOI step taken: a window, the VOI LUT Sequence, min-max (policy minmax, or voi with no VOI in the file), or none (colour) */
  voi: 'window' | 'lut' | 'minmax' | 'none';
  window?: { center: number; width: number; function: string; explanation?: string };
  modality: 'rescale' | 'lut' | 'none';
  inverted: boolean;
}

interface Lut {
  entries: number;
  firstMapped: number;
  depth: number;
  data: Uint16Array;
}

/** A LUT item (Modality or VOI LUT Sequence), read as pydicom does (16-bit entries). */
function readLut(item: any, pixelRepresentation: number, what: string, file: string): Lut {
  const ds = item.dataSet;
  const desc = ds?.elements?.x00283002;
  const dataEl = ds?.elements?.x00283006;
  if (!desc || !dataEl) throw new DicomError(`the ${what} item lacks LUT Descriptor or LUT Data.`, file);
  const entries = ds.uint16('x00283002', 0) || 65536;
  const firstMapped = desc.vr === 'SS' || (pixelRepresentation === 1 && desc.vr !== 'US') ? ds.int16('x00283002', 1) : ds.uint16('x00283002', 1);
  const depth = ds.uint16('x00283002', 2);
  if (!(depth >= 8 && depth <= 16)) throw new DicomError(`the ${what} has ${depth} bits per entry; 8 to 16 are read.`, file);
  if (dataEl.length < entries * 2) throw new DicomError(`the ${what} declares ${entries} entries but its LUT Data holds ${dataEl.length} bytes.`, file);
  const data = new Uint16Array(entries);
  for (let i = 0; i < entries; i++) data[i] = ds.uint16('x00283006', i);
  return { entries, firstMapped, depth, data };
}

function applyLut(v: Float64Array, lut: Lut): void {
  const last = lut.entries - 1;
  for (let i = 0; i < v.length; i++) {
    const x = v[i]!;
    const idx = x >= lut.firstMapped ? Math.min(last, Math.max(0, Math.trunc(x - lut.firstMapped))) : 0;
    v[i] = lut.data[idx]!;
  }
}

/** Modality LUT; returns pydicom's output range [yMin, yMax] for the window step. */
function applyModality(v: Float64Array, ds: any, info: ImageInfo, file: string): { range: [number, number]; kind: IntensityApplied['modality'] } {
  const item = ds.elements.x00283000?.items?.[0];
  if (item) {
    const lut = readLut(item, info.pixelRepresentation, 'Modality LUT Sequence', file);
    applyLut(v, lut);
    return { range: [0, 2 ** lut.depth - 1], kind: 'lut' };
  }
  let range: [number, number] = info.pixelRepresentation === 0 ? [0, 2 ** info.bitsStored - 1] : [-(2 ** (info.bitsStored - 1)), 2 ** (info.bitsStored - 1) - 1];
  const slope = ds.floatString('x00281053');
  const intercept = ds.floatString('x00281052');
  if (slope === undefined || intercept === undefined || !Number.isFinite(slope) || !Number.isFinite(intercept)) return { range, kind: 'none' };
  for (let i = 0; i < v.length; i++) v[i] = v[i]! * slope + intercept;
  range = [range[0] * slope + intercept, range[1] * slope + intercept];
  return { range, kind: 'rescale' };
}

/** The window at `index` (pydicom: a single value is used whatever the index). */
function pickWindow(ds: any, index: number, file: string): { center: number; width: number; explanation?: string } | undefined {
  const nc = ds.numStringValues('x00281050');
  const nw = ds.numStringValues('x00281051');
  if (!nc || !nw) return undefined;
  const at = (n: number): number => (n > 1 ? index : 0);
  if (index >= Math.max(nc, nw) && Math.max(nc, nw) > 1) throw new DicomError(`voiIndex ${index} is out of range: the file has ${Math.max(nc, nw)} windows.`, file);
  const center = ds.floatString('x00281050', at(nc));
  const width = ds.floatString('x00281051', at(nw));
  if (!Number.isFinite(center) || !Number.isFinite(width)) return undefined;
  const ne = ds.numStringValues('x00281055') ?? 0;
  const explanation = ne ? String(ds.string('x00281055', ne > 1 ? index : 0) ?? '').trim() || undefined : undefined;
  return { center, width, explanation };
}

/** pydicom's apply_windowing, then (y - yMin) / (yMax - yMin). */
function applyWindow(v: Float64Array, w: { center: number; width: number }, fn: string, [yMin, yMax]: [number, number], file: string): void {
  const span = yMax - yMin;
  if (fn === 'SIGMOID') {
    if (w.width <= 0) throw new DicomError(`Window Width ${w.width} must be greater than 0 for SIGMOID.`, file);
    for (let i = 0; i < v.length; i++) v[i] = 1 / (1 + Math.exp((-4 * (v[i]! - w.center)) / w.width));
    return;
  }
  if (fn !== 'LINEAR' && fn !== 'LINEAR_EXACT') throw new DicomError(`VOI LUT Function '${fn}' is not one of LINEAR, LINEAR_EXACT, SIGMOID.`, file);
  let { center, width } = w;
  if (fn === 'LINEAR') {
    if (width < 1) throw new DicomError(`Window Width ${width} must be at least 1 for LINEAR.`, file);
    center -= 0.5;
    width -= 1;
  } else if (width <= 0) throw new DicomError(`Window Width ${width} must be greater than 0 for LINEAR_EXACT.`, file);
  const lo = center - width / 2;
  const hi = center + width / 2;
  for (let i = 0; i < v.length; i++) {
    const x = v[i]!;
    // in y units then back to [0, 1], as pydicom's output range then our scaling
    v[i] = x <= lo ? 0 : x > hi ? 1 : ((((x - center) / width + 0.5) * span + yMin) - yMin) / span;
  }
}

function minMax(v: Float64Array): void {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < v.length; i++) {
    if (v[i]! < lo) lo = v[i]!;
    if (v[i]! > hi) hi = v[i]!;
  }
  const d = hi - lo;
  for (let i = 0; i < v.length; i++) v[i] = d > 0 ? (v[i]! - lo) / d : 0;
}

/**
 * Monochrome samples (masked, sign-extended) to [0, 1] under `policy`.
 * @example const { pixels, applied } = toUnitIntensity(samples, ds, info, 'voi', 0, 'a.dcm');
 */
export function toUnitIntensity(samples: Int32Array, ds: any, info: ImageInfo, policy: IntensityPolicy, voiIndex: number, file: string): { pixels: Float32Array; applied: IntensityApplied } {
  const v = Float64Array.from(samples);
  const modality = applyModality(v, ds, info, file);
  const inverted = info.photometric === 'MONOCHROME1' || String(ds.string('x20500020') ?? '').trim() === 'INVERSE';
  const applied: IntensityApplied = { policy, voi: 'minmax', modality: modality.kind, inverted };
  const voiItems = ds.elements.x00283010?.items;
  if (policy === 'minmax') minMax(v);
  else if (voiItems?.length && voiItems[0].dataSet?.elements?.x00283002 && voiItems[0].dataSet?.elements?.x00283006) {
    if (voiIndex >= voiItems.length) throw new DicomError(`voiIndex ${voiIndex} is out of range: the VOI LUT Sequence has ${voiItems.length} item(s).`, file);
    const lut = readLut(voiItems[voiIndex], info.pixelRepresentation, 'VOI LUT Sequence', file);
    applyLut(v, lut);
    const top = 2 ** lut.depth - 1;
    for (let i = 0; i < v.length; i++) v[i] = v[i]! / top;
    applied.voi = 'lut';
  } else {
    const w = pickWindow(ds, voiIndex, file);
    if (w) {
      const fn = String(ds.string('x00281056') ?? 'LINEAR').trim().toUpperCase() || 'LINEAR';
      applyWindow(v, w, fn, modality.range, file);
      applied.voi = 'window';
      applied.window = { ...w, function: fn };
    } else minMax(v);
  }
  const pixels = new Float32Array(v.length);
  for (let i = 0; i < v.length; i++) {
    const x = Math.min(1, Math.max(0, v[i]!));
    pixels[i] = inverted ? 1 - x : x;
  }
  return { pixels, applied };
}
