// Per-kernel CPU-time profile of one training step (trainOnBatch, Adam, batch 8 at 128 px) on wasm.
// Nested kernels show as parent>child with self time. Usage: node --import tsx bench/profile.ts resnet18 [top]
import * as tf from '@tensorflow/tfjs';
import { ensureBackend } from '../src/backend/index.js';
import { createModel } from '../src/zoo/registry.js';
import { profileKernels, cpuMs } from './probe.js';
await ensureBackend();
const arch = process.argv[2] ?? 'mobilenet_v2';
const prof = profileKernels('wasm');
const model = await createModel(arch, { numClasses: 5, inputShape: [128, 128, 3] });
model.compile({ optimizer: tf.train.adam(1e-3), loss: (a: tf.Tensor, b: tf.Tensor) => tf.losses.sigmoidCrossEntropy(a, b) });
const x = tf.randomNormal([8, 128, 128, 3]);
const y = tf.cast(tf.greater(tf.randomUniform([8, 5]), 0.5), 'float32');
for (let i = 0; i < 2; i++) await model.trainOnBatch(x, y);
const cpu: number[] = [];
for (let i = 0; i < 2; i++) { prof.reset(); const c0 = cpuMs(); await model.trainOnBatch(x, y); cpu.push(cpuMs() - c0); }
console.log(arch, 'cpu', cpu.map((t) => t.toFixed(0)).join(' '), 'tensors', tf.memory().numTensors);
console.log(prof.report(Number(process.argv[3] ?? 25)));
