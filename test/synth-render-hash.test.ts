// Pins every pixel of renderSynthImage and renderSynthRegions: refactoring the renderer must not change an image.
// The digests were computed with the renderer as of commit 0ec1498 (before it was split into named steps).
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { renderSynthImage, renderSynthRegions, synthRecords } from '../src/data/synth.js';

// frontal and lateral views, AP and PA, every finding alone and together, support devices, odd and even sizes
const records = [...synthRecords('train', 48, 11), ...synthRecords('valid', 24, 4)];

function digest(size: number): { images: string; regions: string } {
  const images = createHash('sha256');
  const regions = createHash('sha256');
  for (const r of records) {
    images.update(renderSynthImage(r, size).data);
    for (const m of Object.values(renderSynthRegions(r, size))) regions.update(m);
  }
  return { images: images.digest('hex'), regions: regions.digest('hex') };
}

describe('synthetic phantoms are pixel-stable', () => {
  it('covers what the renderer draws', () => {
    const t = records.map((r) => r.truth);
    expect(records.some((r) => r.view === 'lateral')).toBe(true);
    expect(records.some((r) => r.apPa === 'AP') && records.some((r) => r.apPa === 'PA')).toBe(true);
    for (const present of [(x: (typeof t)[0]) => x.cardiomegaly > 0, (x: (typeof t)[0]) => x.edema > 0, (x: (typeof t)[0]) => x.consolidation > 0, (x: (typeof t)[0]) => x.atelectasis > 0, (x: (typeof t)[0]) => x.effusion[0] + x.effusion[1] > 0, (x: (typeof t)[0]) => x.supportDevices]) {
      expect(t.some(present) && t.some((x) => !present(x))).toBe(true);
    }
  });

  it('renders the same bytes at 64 and 97 px', () => {
    expect(digest(64)).toEqual({ images: '12e654d4b55bcb15ea7b02f8d6ec107886efc352267ec78bce1a8dc9e13a84c8', regions: '9c7350cf1f558700e1fa33d6c45d465107e2bb20eb80c24794b3103275775ac2' });
    expect(digest(97)).toEqual({ images: 'c51f843e341bf7d9f16c9f3a37fad0136cf67799ce1e7ab9ced607a77bcaf77e', regions: '396355441f9352c51226eb86d48e3df96f18d9cd7f0cb8dd52e96ece9199c574' });
  });
});
