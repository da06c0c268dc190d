// torchxrayvision's whole-module checkpoints (torch.save(model)) read as data, against torchxrayvision's own
// forward: test/fixtures/xrv/ comes from tools/make_xrv_fixtures.py, which runs torchxrayvision's DenseNet class
// (a reduced DenseNet: growth 8, blocks (1, 2, 2, 1), 16 features, 1 channel, 18 outputs, 64 px) with seeded
// weights and saves it whole in the zip and legacy formats.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureBackend } from '../src/backend/index.js';
import { calibratedProbabilities, opNorm, sigmoid } from '../src/calibration.js';
import { loadWeights } from '../src/weights/load.js';
import { parseTorchSave } from '../src/weights/pth.js';
import { unpickle } from '../src/weights/pickle.js';
import { buildDenseNet } from '../src/zoo/densenet.js';
import { readFixture, readJsonFixture, relErr, rng } from './helpers/index.js';
import { ZipReader } from '../src/weights/zip.js';

interface XrvRef {
  source: string;
  pathologies: string[];
  op_threshs: (number | null)[];
  models: Record<string, {
    growth_rate: number;
    block_config: number[];
    num_init_features: number;
    input_shape: number[];
    input_file: string;
    logits: number[];
    calibrated: number[];
    state_dict_keys: string[];
    files: Record<'zip' | 'legacy', string>;
    globals: Record<'zip' | 'legacy', string[]>;
  }>;
}

const ref = readJsonFixture<XrvRef>('xrv/xrv_ref.json');
const tiny = ref.models.xrv_tiny_densenet!;
const quiet = { log: () => {} };

function tinyXrvModel(): tf.LayersModel {
  const [, , h, w] = tiny.input_shape as [number, number, number, number];
  return buildDenseNet(tiny.growth_rate, tiny.block_config, tiny.num_init_features, { name: 'xrv_tiny', numClasses: 18, inputShape: [h, w, 1] });
}

function tinyInput(): tf.Tensor4D {
  const [, , h, w] = tiny.input_shape as [number, number, number, number];
  const bytes = readFixture(`xrv/${tiny.input_file}`);
  // NCHW with one channel is NHWC already
  return tf.tensor4d(new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)), [1, h, w, 1]);
}

beforeAll(async () => {
  await ensureBackend();
});

describe("torchxrayvision's whole-module checkpoints", () => {
  it.each(['zip', 'legacy'] as const)('the %s file gives the state dict torch gives, and its labels and operating points', (fmt) => {
    const parsed = parseTorchSave(readFixture(`xrv/${tiny.files[fmt]}`));
    expect(parsed.format).toBe(fmt === 'zip' ? 'pth' : 'pth-legacy');
    // torch's state_dict() keys in torch's order, op_threshs moved to the metadata
    expect([...parsed.dict.keys()]).toEqual(tiny.state_dict_keys.filter((k) => k !== 'op_threshs'));
    expect(parsed.module!.className).toBe('torchxrayvision.models.DenseNet');
    expect(parsed.module!.labels).toEqual(ref.pathologies);
    expect(parsed.module!.opThreshs!.map((v) => (Number.isNaN(v) ? null : v))).toEqual(ref.op_threshs.map((v) => (v === null ? null : Math.fround(v))));
    expect(parsed.module!.attributes.apply_sigmoid).toBe(false);
  });

  it.each(['zip', 'legacy'] as const)("%s: our logits equal torchxrayvision's forward (rel. err <= 1e-4)", async (fmt) => {
    const model = tinyXrvModel();
    try {
      await loadWeights(model, readFixture(`xrv/${tiny.files[fmt]}`), quiet);
      const x = tinyInput();
      const y = model.predict(x) as tf.Tensor;
      const logits = Array.from(y.dataSync());
      tf.dispose([x, y]);
      expect(relErr(logits, tiny.logits)).toBeLessThanOrEqual(1e-4);
      // torchxrayvision's forward with op_threshs set: op_norm(sigmoid(logits))
      const calibrated = calibratedProbabilities(logits, ref.op_threshs);
      expect(relErr(calibrated, tiny.calibrated)).toBeLessThanOrEqual(1e-4);
    } finally {
      model.dispose();
    }
  });

  it('the files reference exactly the globals the allow-list names (pickletools, by the fixture tool)', () => {
    expect(tiny.globals.zip).toEqual(tiny.globals.legacy);
    expect(tiny.globals.zip).toContain('torchxrayvision.models._DenseLayer');
  });
});

describe('opNorm is torchxrayvision op_norm', () => {
  it('maps the operating point to 0.5 and is linear on each side; NaN/null give 0.5', () => {
    const p = opNorm([0.05, 0.1, 0.55, 1, 0.3, 0.3], [0.1, null, NaN].concat([0.1, null, NaN]) as (number | null)[]);
    expect(Array.from(p)).toEqual([0.25, 0.5, 0.5, 1, 0.5, 0.5]);
    expect(opNorm([0.1], [0.1])[0]).toBe(0.5);
    expect(opNorm([0.55], [0.1])[0]).toBeCloseTo(0.75, 12);
    expect(() => opNorm([0.5, 0.5, 0.5], [0.1, 0.2])).toThrow(/rows of 2 operating points/);
    expect(() => opNorm([0.5], [1.5])).toThrow(/probabilities in \(0, 1\)/);
    expect(Array.from(sigmoid([0, -800, 800]))).toEqual([0.5, 0, 1]);
  });
});

/** A small pickle assembler (protocol 2, as torch.save writes). */
class Pkl {
  readonly out: number[] = [0x80, 0x02];
  op(...b: number[]): this {
    this.out.push(...b);
    return this;
  }
  u32(n: number): number[] {
    return [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];
  }
  str(s: string): this {
    const b = new TextEncoder().encode(s);
    return this.op(0x58, ...this.u32(b.length), ...b);
  }
  global(module: string, name: string): this {
    return this.op(0x63, ...new TextEncoder().encode(`${module}\n${name}\n`));
  }
  put = (i: number): this => this.op(0x72, ...this.u32(i));
  get = (i: number): this => this.op(0x6a, ...this.u32(i));
  /** NEWOBJ of a class with no arguments: how protocol 2 pickles an nn.Module instance. */
  newobj(module: string, name: string): this {
    return this.global(module, name).op(0x29, 0x81);
  }
  bytes(): Uint8Array {
    return Uint8Array.from([...this.out, 0x2e]);
  }
}

const XRV = 'torchxrayvision.models';

describe('hostile whole-module files are refused by name, with bounded work', () => {
  it('a module class that is not allow-listed', () => {
    const p = new Pkl().newobj(XRV, 'Evil').op(0x7d, 0x62);
    expect(() => unpickle(p.bytes())).toThrow(/Refusing global 'torchxrayvision\.models\.Evil'/);
  });

  it("a REDUCE of os.system inside a module's __dict__ is refused at the global, before anything is called", () => {
    const p = new Pkl().newobj(XRV, 'DenseNet').op(0x7d).str('x');
    p.global('posix', 'system').str('touch /tmp/chexzoo-pwned').op(0x85, 0x52, 0x73, 0x62);
    expect(() => unpickle(p.bytes())).toThrow(/Refusing global 'posix\.system'/);
  });

  it('an allow-listed module class is never called (REDUCE), nor built twice', () => {
    const call = new Pkl().global('torch.nn.modules.conv', 'Conv2d').op(0x29, 0x52);
    expect(() => unpickle(call.bytes())).toThrow(/Refusing to call torch\.nn\.modules\.conv\.Conv2d/);
    const twice = new Pkl().newobj(XRV, 'DenseNet').op(0x7d, 0x62, 0x7d, 0x62);
    expect(() => unpickle(twice.bytes())).toThrow(/BUILD of torchxrayvision\.models\.DenseNet/);
  });

  /** Modules nested `levels` deep; each level's _modules names the level below `fanOut` times. */
  function nested(levels: number, fanOut: number): Uint8Array {
    const p = new Pkl();
    p.newobj(XRV, '_DenseLayer').op(0x7d, 0x62).put(0).op(0x30);
    for (let i = 1; i <= levels; i++) {
      p.newobj(XRV, '_DenseBlock').op(0x7d).str('_modules').op(0x7d);
      for (let k = 0; k < fanOut; k++) p.str(`m${k}`).get(i - 1).op(0x73);
      p.op(0x73, 0x62).put(i);
      if (i < levels) p.op(0x30);
    }
    // the root: a zip-less stand-in is enough, the walk is what is bounded
    return p.bytes();
  }

  it('deep nesting is refused', async () => {
    const { moduleTensors } = await import('../src/weights/modules.js');
    const root = unpickle(nested(200, 1)).value;
    expect(() => moduleTensors(root as never)).toThrow(/nest deeper than 64 levels/);
  });

  it('a shared submodule fanned out 2^40 times is refused fast', async () => {
    const { moduleTensors } = await import('../src/weights/modules.js');
    const bytes = nested(40, 2);
    expect(bytes.length).toBeLessThan(10_000);
    const t0 = Date.now();
    expect(() => moduleTensors(unpickle(bytes).value as never)).toThrow(/more than 100000 modules/);
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  it('one memoized _parameters dict of 5,000 entries shared by 5,000 modules is refused fast', async () => {
    const { moduleTensors } = await import('../src/weights/modules.js');
    const p = new Pkl().op(0x7d, 0x28);
    for (let i = 0; i < 5000; i++) p.str(`p${i}`).op(0x4e);
    p.op(0x75).put(0).op(0x30);
    p.newobj(XRV, 'DenseNet').op(0x7d).str('_modules').op(0x7d, 0x28);
    for (let i = 0; i < 5000; i++) p.str(`m${i}`).newobj(XRV, '_DenseLayer').op(0x7d).str('_parameters').get(0).op(0x73, 0x62);
    p.op(0x75, 0x73, 0x62);
    const bytes = p.bytes();
    expect(bytes.length).toBeLessThan(500_000); // 25 million entries to walk without the bound
    const t0 = Date.now();
    expect(() => moduleTensors(unpickle(bytes).value as never)).toThrow(/more than 200000 parameters, buffers and submodules/);
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  it('a huge memo of one list referenced 10,000 times as a root attribute costs no more than its bytes', async () => {
    const { moduleInfo } = await import('../src/weights/modules.js');
    const p = new Pkl().op(0x28);
    for (let i = 0; i < 10_000; i++) p.op(0x4b, i & 0xff);
    p.op(0x6c).put(0).op(0x30);
    p.newobj(XRV, 'DenseNet').op(0x7d).str('pathologies').op(0x28);
    for (let i = 0; i < 10_000; i++) p.get(0);
    p.op(0x6c, 0x73, 0x62);
    const bytes = p.bytes();
    const t0 = Date.now();
    const info = moduleInfo(unpickle(bytes).value as never);
    expect(info.labels).toBeUndefined();
    expect(info.attributes.pathologies).toBeUndefined();
    expect(Date.now() - t0).toBeLessThan(1000);
  });

  it('one memoized 10,000-item list as 10,000 root attributes reads at most 100,000 items in all', async () => {
    const { moduleInfo } = await import('../src/weights/modules.js');
    const p = new Pkl().op(0x28);
    for (let i = 0; i < 10_000; i++) p.op(0x4b, i & 0xff);
    p.op(0x6c).put(0).op(0x30);
    p.newobj(XRV, 'DenseNet').op(0x7d, 0x28);
    for (let i = 0; i < 10_000; i++) p.str(`a${i}`).get(0);
    p.op(0x75, 0x62);
    const bytes = p.bytes();
    expect(bytes.length).toBeLessThan(200_000);
    const t0 = Date.now();
    const info = moduleInfo(unpickle(bytes).value as never);
    expect(Object.keys(info.attributes).length).toBe(10);
    expect(Date.now() - t0).toBeLessThan(1000);
  });

  it("a legacy file's module source text is ignored, never run", () => {
    // magic, protocol, sys info, root (a module named by the ('module', class, file, source) persistent id), keys
    const magic = new Pkl().op(0x8a, 10, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19).bytes();
    const version = new Pkl().op(0x4d, 1001 & 0xff, 1001 >> 8).bytes();
    const sys = new Pkl().op(0x7d).bytes();
    const root = new Pkl().op(0x28).str('module').global(XRV, 'DenseNet').str('evil.py').str("import os; os.system('touch /tmp/chexzoo-pwned')");
    root.op(0x74, 0x51, 0x29, 0x81).op(0x7d).str('_parameters').op(0x7d).str('w');
    root.global('torch._utils', '_rebuild_tensor_v2').op(0x28);
    root.op(0x28).str('storage').global('torch', 'FloatStorage').str('0').str('cpu').op(0x4b, 2, 0x74, 0x51);
    root.op(0x4b, 0, 0x4b, 2, 0x85, 0x4b, 1, 0x85, 0x74, 0x52, 0x73, 0x73, 0x62);
    const keys = new Pkl().op(0x28).str('0').op(0x6c).bytes();
    const count = new Uint8Array(8);
    new DataView(count.buffer).setBigInt64(0, 2n, true);
    const data = new Uint8Array(new Float32Array([3, 4]).buffer);
    const parts = [magic, version, sys, root.bytes(), keys, count, data];
    const file = new Uint8Array(parts.reduce((a, b) => a + b.length, 0));
    parts.reduce((at, b) => (file.set(b, at), at + b.length), 0);
    const parsed = parseTorchSave(file);
    expect(Array.from(parsed.dict.get('w')!.data)).toEqual([3, 4]);
    expect(parsed.module!.className).toBe('torchxrayvision.models.DenseNet');
  });
});

describe('whole-module files fail cleanly when corrupted (fuzz)', () => {
  /** Mutants of `base` (bit flips or telling bytes in `region`, or truncation): every outcome is a result or a deliberate Error. */
  function fuzz(base: Uint8Array, n: number, region: [number, number], parse: (b: Uint8Array) => unknown): number {
    const r = rng(n * 31 + base.length);
    let failures = 0;
    for (let i = 0; i < n; i++) {
      let b: Uint8Array;
      if (r() < 0.1) b = base.slice(0, Math.floor(r() * base.length));
      else {
        b = base.slice();
        for (let k = 0, flips = 1 + Math.floor(r() * 6); k < flips; k++) {
          const p = region[0] + Math.floor(r() * (region[1] - region[0]));
          b[p] = r() < 0.5 ? b[p]! ^ (1 << Math.floor(r() * 8)) : [0, 0xff, 0x81, 0x62, 0x52, 0x63, 0x28, 0x71][Math.floor(r() * 8)]!;
        }
      }
      try {
        parse(b);
      } catch (e) {
        failures++;
        if (!(e instanceof Error) || e instanceof TypeError || e instanceof RangeError) throw new Error(`mutant ${i}: crashed instead of failing cleanly: ${String(e)}`);
      }
    }
    return failures;
  }

  it('the zip file with its CRC check off (mutating the module pickle) and the legacy file', () => {
    const zipped = readFixture(`xrv/${tiny.files.zip}`);
    const pkl = [...new ZipReader(zipped).entries.values()].find((e) => e.name.endsWith('data.pkl'))!;
    expect(fuzz(zipped, 300, [pkl.dataOffset, pkl.dataOffset + pkl.size], (b) => parseTorchSave(b, { verifyCrc: false }))).toBeGreaterThan(30);
    const legacy = readFixture(`xrv/${tiny.files.legacy}`);
    // the pickles are the first 26 KB; the rest is raw storage bytes
    expect(fuzz(legacy, 300, [0, 26_000], (b) => parseTorchSave(b))).toBeGreaterThan(30);
  });
});
