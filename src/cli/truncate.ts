// `chexzoo truncate`: cut an architecture at a stage, report what it keeps, optionally save it.
import type * as tf from '@tensorflow/tfjs';
import { archFlag, failWith, intFlag, parseCommand, stageFlag } from './args.js';
import { blocks, truncate } from '../truncate.js';
import { countParams, createModel, getModelInfo } from '../zoo/registry.js';
import { downloadProgress } from './progress.js';

const USAGE = `Usage: chexzoo truncate --arch A [--block STAGE|-K] [--num-classes N] [--img-size S]
                        [--weights imagenet|none|PATH] [--out DIR] [--json]

Without --block: lists the stages of A with channels, reduction and parameters up to each.
With --block: truncates A there (a stage name, or -K to drop the last K stages), adds a fresh
N-class head (default 5; 0 = the stage's feature map), prints the parameter reduction and, with
--out, saves the model (model.json + weights.bin) to DIR.
`;

/**
 * Runs `chexzoo truncate` with the arguments after the subcommand; resolves to the exit code.
 * @example await runTruncate(['--arch', 'densenet121', '--block', 'features.denseblock3']);
 */
export async function runTruncate(argv: string[]): Promise<number> {
  const parsed = parseCommand('truncate', USAGE, {
    args: argv,
    options: {
      arch: { type: 'string' },
      block: { type: 'string' },
      'num-classes': { type: 'string', default: '5' },
      'img-size': { type: 'string' },
      weights: { type: 'string', default: 'none' },
      out: { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    allowPositionals: false,
  });
  if (typeof parsed === 'number') return parsed;
  const { values } = parsed;
  let model: tf.LayersModel | undefined;
  try {
    const arch = archFlag('arch', values.arch);
    const numClasses = intFlag('num-classes', values['num-classes'], { min: 0 })!;
    const info = getModelInfo(arch);
    const size = intFlag('img-size', values['img-size'], { min: info.minImageSize }) ?? info.imageSize;
    const block = values.block === undefined ? undefined : stageFlag('block', arch, values.block);
    const weights = values.weights === 'none' ? undefined : values.weights;
    // paths and the ImageNet download cache are resolved by the Node entry's weights resolver
    if (weights) await import('../node.js');
    const download = downloadProgress(`${arch} weights`);
    model = await createModel(arch, {
      numClasses: numClasses === 0 ? 0 : 1000,
      inputShape: [size, size, 3],
      ...(weights ? { weights, onProgress: download } : {}),
    });
    download.done();
    return await report(model, arch, block, numClasses, size, values);
  } catch (e) {
    return failWith('truncate', USAGE, e);
  } finally {
    model?.dispose();
  }
}

/** Prints the stages of `model`, or truncates it at `block` and reports (with --out, saves) the result. */
async function report(
  model: tf.LayersModel,
  arch: string,
  block: string | undefined,
  numClasses: number,
  size: number,
  values: { json: boolean; out?: string | undefined },
): Promise<number> {
  const stages = blocks(model);
  if (block === undefined) {
    if (values.json) console.log(JSON.stringify(stages, null, 2));
    else {
      const w = Math.max(...stages.map((s) => s.name.length));
      console.log(`${'stage'.padEnd(w)}  channels  reduction  params`);
      for (const s of stages) {
        console.log(
          `${s.name.padEnd(w)}  ${String(s.channels).padStart(8)}  ${String(s.reduction).padStart(9)}  ${s.params.toLocaleString('en-US')}`,
        );
      }
    }
    return 0;
  }
  const small = truncate(model, block, { numClasses });
  const full = await createModel(arch, { numClasses, inputShape: [size, size, 3] });
  const fullParams = countParams(full);
  full.dispose();
  const params = countParams(small);
  const report = {
    arch,
    block,
    numClasses,
    params,
    fullParams,
    reduction: fullParams / params,
    output: small.outputs[0]!.shape,
  };
  if (values.out) {
    const { saveModel } = await import('../weights/fs-io.js');
    await saveModel(small, values.out);
  }
  if (values.json) console.log(JSON.stringify({ ...report, saved: values.out ?? null }, null, 2));
  else {
    console.log(
      `${report.arch} truncated at ${report.block}: ${params.toLocaleString('en-US')} parameters ` +
        `(${report.reduction.toFixed(2)}x fewer than the full ${numClasses}-class model, ${fullParams.toLocaleString('en-US')}); ` +
        `output ${JSON.stringify(report.output)}`,
    );
    if (values.out) console.log(`saved to ${values.out}`);
  }
  small.dispose();
  return 0;
}
