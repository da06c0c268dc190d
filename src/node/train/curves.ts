// Node-only: RUN/curves.svg, the training curves of a run folder drawn from its metrics.json
// (src/report/curves.ts draws them). trainRun writes it at the end of a run; writeRunCurves rebuilds it any time.
import { promises as fs } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { curvesFromMetrics, curvesSvg, type CurvesMetrics, type TrainingCurves } from '../../report/curves.js';
import { writeFileAtomic } from '../utils/atomic.js';

/** The file name of a run's curves in its run folder. */
export const RUN_CURVES = 'curves.svg';

/** The curves of a run folder from its metrics.json, or undefined when the run has not finished (no metrics.json). */
export async function readRunCurves(runDir: string): Promise<TrainingCurves | undefined> {
  let text: string;
  try {
    text = await fs.readFile(join(runDir, 'metrics.json'), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  let metrics: CurvesMetrics;
  try {
    metrics = JSON.parse(text) as CurvesMetrics;
  } catch (e) {
    throw new Error(`${join(runDir, 'metrics.json')} is not valid JSON (${(e as Error).message}); run the training again to rewrite it.`);
  }
  if (!Array.isArray(metrics.validations) || !Array.isArray(metrics.topK)) {
    throw new Error(`${join(runDir, 'metrics.json')} has no validations/topK lists: it was not written by chexzoo train.`);
  }
  return curvesFromMetrics(metrics);
}

/**
 * Writes RUN/curves.svg (atomically) from the run's metrics.json and returns its path. Fails with the reason when
 * the run has not finished.
 * @example const path = await writeRunCurves('runs/resnet18');
 */
export async function writeRunCurves(runDir: string): Promise<string> {
  const dir = resolve(runDir);
  const curves = await readRunCurves(dir);
  if (!curves) throw new Error(`${dir} has no metrics.json: the run has not finished, so it has no curves yet (resume it with the same chexzoo train command).`);
  const path = join(dir, RUN_CURVES);
  await writeFileAtomic(path, curvesSvg(curves, { title: basename(dir) }));
  return path;
}
