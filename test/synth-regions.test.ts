// renderSynthRegions: the masks of where each finding's sign is drawn follow the render's geometry.
import { describe, expect, it } from 'vitest';
import { renderSynthImage, renderSynthRegions, synthRecords, type SynthRecord } from '../src/data/synth.js';

const sum = (m: Uint8Array): number => m.reduce((a, b) => a + b, 0);
const meanWhere = (img: Uint8Array, m: Uint8Array, inside: boolean): number => {
  let s = 0;
  let n = 0;
  for (let i = 0; i < img.length; i++) if (Boolean(m[i]) === inside) (s += img[i]!), n++;
  return s / Math.max(n, 1);
};

describe('renderSynthRegions', () => {
  const recs = synthRecords('valid', 120, 5).filter((r) => r.view === 'frontal');

  it('is empty for absent findings and not for present ones', () => {
    for (const r of recs.slice(0, 40)) {
      const m = renderSynthRegions(r, 64);
      expect(sum(m.Cardiomegaly) > 0).toBe(r.truth.cardiomegaly > 0);
      expect(sum(m['Pleural Effusion']) > 0).toBe(r.truth.effusion[0] + r.truth.effusion[1] > 0);
      expect(sum(m.Edema) > 0).toBe(r.truth.edema > 0);
      expect(sum(m.Consolidation) > 0).toBe(r.truth.consolidation > 0);
      expect(sum(m.Atelectasis) > 0).toBe(r.truth.atelectasis > 0);
    }
  });

  it('marks where the sign is drawn: the render differs there when the finding is removed (or shrunk)', () => {
    const check = (r: SynthRecord, task: 'Atelectasis' | 'Cardiomegaly' | 'Consolidation' | 'Edema' | 'Pleural Effusion', without: SynthRecord['truth']) => {
      const m = renderSynthRegions(r, 96)[task];
      const a = renderSynthImage(r, 96).data;
      const b = renderSynthImage({ ...r, truth: without }, 96).data;
      const diff = new Uint8Array(a.length).map((_, i) => Math.abs(a[i]! - b[i]!));
      // the change the finding makes lies mostly inside its region
      let inside = 0;
      let total = 0;
      for (let i = 0; i < diff.length; i++) {
        total += diff[i]!;
        inside += diff[i]! * m[i]!;
      }
      expect(inside / total).toBeGreaterThan(0.9);
      expect(meanWhere(diff, m, true)).toBeGreaterThan(5 * meanWhere(diff, m, false));
    };
    // (the patches are the last random draws of such a study, so removing them changes nothing else)
    const c = recs.find((r) => r.truth.consolidation > 0.4 && r.truth.atelectasis === 0 && !r.truth.supportDevices)!;
    check(c, 'Consolidation', { ...c.truth, consolidation: 0 });
    const e = recs.find((r) => r.truth.effusion[0] > 0.4)!;
    check(e, 'Pleural Effusion', { ...e.truth, effusion: [0, 0] });
    const ed = recs.find((r) => r.truth.edema > 0.4)!;
    check(ed, 'Edema', { ...ed.truth, edema: 0 });
    // (bands and the lifted hemidiaphragm; only support devices are drawn after them)
    const a = recs.find((r) => r.truth.atelectasis > 0.4 && !r.truth.supportDevices)!;
    check(a, 'Atelectasis', { ...a.truth, atelectasis: 0 });
    // a heart drawn without cardiomegaly takes a random size (one more random draw), so compare two enlarged
    // hearts: the larger one's region holds the change
    const h = recs.find((r) => r.truth.cardiomegaly > 0)!;
    check({ ...h, truth: { ...h.truth, cardiomegaly: 1 } }, 'Cardiomegaly', { ...h.truth, cardiomegaly: 0.25 });
  });

  it('rejects a bad size', () => {
    expect(() => renderSynthRegions(recs[0]!, 8)).toThrow(/integer in \[16, 4096\]/);
  });
});
