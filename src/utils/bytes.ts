// Byte helpers shared by the readers and writers (browser-safe).

/** The parts one after the other in one new array (downloads, inflated chunks, written DICOM elements). */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
