import * as tf from '@tensorflow/tfjs';
import { fastFusedBatchNorm, registerBatchNormGradient } from './kernels/batchnorm.js';
import { conv2dBackpropFilter, conv2dBackpropInput, depthwiseBackpropFilter, depthwiseBackpropInput } from './kernels/conv.js';
import { fastSlice, fastSplitV, fastTranspose, sharedIdentity } from './kernels/layout.js';
import { channelReduction, fastBatchMatMul, fastMaxPoolGrad, registerMinimumGradient, scalarMinimum } from './kernels/math.js';
import { stock, type Impl, type KernelArgs } from './kernels/scope.js';

// Fast gradient kernels for the wasm (and cpu) backends: which kernel replaces which, and their registration.
//
// The stock wasm backend lacks Conv2DBackpropFilter and both depthwise backprops, and its
// Conv2DBackpropInput is a slow direct loop. Every gradient is rewritten as forward ops the backend runs
// fast (XNNPACK convolutions, matMul, pads), registered at the kernel level because tfjs-layers'
// FusedConv2D / FusedDepthwiseConv2D gradients call these kernels directly, so a gradient override of Conv2D
// would not reach model.fit(). A few generic wasm kernels that dominated a training step after that
// (transposed matMul, tall transposes, leading-axis reductions, SplitV, Slice, MaxPoolGrad, copying Identity)
// are replaced too; docs/performance.md has the measurements. The kernels live in ./kernels/:
// scope.ts (the kernel scope and its one try/abort wrapper), conv.ts (convolution gradients), layout.ts (data
// movement; transposes through ../copy-helper.ts), math.ts (matmul, reductions, minimum, MaxPool gradient),
// batchnorm.ts (FusedBatchNorm as a threaded per-channel multiply-add, and its gradient).

const WASM_KERNELS: Record<string, Impl> = {
  Conv2DBackpropInput: conv2dBackpropInput,
  Conv2DBackpropFilter: conv2dBackpropFilter,
  DepthwiseConv2dNativeBackpropInput: depthwiseBackpropInput,
  DepthwiseConv2dNativeBackpropFilter: depthwiseBackpropFilter,
  Transpose: fastTranspose,
  BatchMatMul: fastBatchMatMul,
  Sum: channelReduction('Sum'),
  Mean: channelReduction('Mean'),
  SplitV: fastSplitV,
  Identity: sharedIdentity,
  Slice: fastSlice,
  MaxPoolGrad: fastMaxPoolGrad,
  Minimum: scalarMinimum,
  FusedBatchNorm: fastFusedBatchNorm,
};

// The cpu backend has correct kernels for everything; only its backprop-filter loops are pathological.
const CPU_KERNELS: Record<string, Impl> = {
  Conv2DBackpropFilter: conv2dBackpropFilter,
};

const registered = new Map<string, string[]>();

/** The kernel functions registered by {@link registerFastKernels}, to tell them from TF.js' own. */
const ours = new WeakSet<object>();

/**
 * Whether TF.js currently dispatches `kernelName` on `backendName` to one of our fast kernels (not the stock one).
 * @example isFastKernel('Conv2DBackpropFilter', 'wasm'); // true after registerFastKernels('wasm')
 */
export function isFastKernel(kernelName: string, backendName: string): boolean {
  const k = tf.getKernel(kernelName, backendName);
  return k !== undefined && ours.has(k.kernelFunc);
}

/**
 * Registers the fast gradient kernels for a backend ('wasm' or 'cpu'; default: the active one) and the
 * tile-free BatchNorm gradient. Idempotent. `ensureBackend()` calls it for you; call it yourself only
 * when you pick the backend with `tf.setBackend`.
 * @example await tf.setBackend('wasm'); registerFastKernels();
 */
export function registerFastKernels(backendName: string = tf.getBackend()): string[] {
  const done = registered.get(backendName);
  if (done) return done;
  const table = backendName === 'wasm' ? WASM_KERNELS : backendName === 'cpu' ? CPU_KERNELS : {};
  const names: string[] = [];
  for (const [kernelName, impl] of Object.entries(table)) {
    const old = tf.getKernel(kernelName, backendName);
    if (old) {
      stock.set(`${kernelName}@${backendName}`, old.kernelFunc);
      tf.unregisterKernel(kernelName, backendName);
    }
    const kernelFunc = ((args: KernelArgs) => impl(args, backendName)) as unknown as tf.KernelFunc;
    ours.add(kernelFunc);
    tf.registerKernel({
      kernelName,
      backendName,
      kernelFunc,
      // The stock kernel we delegate to still needs its one-time setup when the backend initialises later.
      ...(old?.setupFunc ? { setupFunc: old.setupFunc } : {}),
      ...(old?.disposeFunc ? { disposeFunc: old.disposeFunc } : {}),
    });
    names.push(`${kernelName}@${backendName}`);
  }
  registerBatchNormGradient();
  names.push('FusedBatchNorm gradient');
  registerMinimumGradient();
  names.push('Minimum gradient');
  registered.set(backendName, names);
  return names;
}
