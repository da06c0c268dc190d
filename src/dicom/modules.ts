// The third-party parts decodeDicom builds on, loaded lazily: dicom-parser (parsing), fflate (deflate), the
// cornerstone codecs (libjpeg-turbo, CharLS, OpenJPEG, OpenJPH, compiled to JS/wasm), jpeg-lossless-decoder-js,
// and, for 12-bit lossy JPEG only, the optional dcmjs-codecs (DCMTK's IJG decoder compiled to wasm).
// Each loads only when a file needs it, through a computed specifier so that bundlers of the root entry do not
// pull in their Node-only branches (dicom-parser's UMD wrapper and the emscripten loaders `require` zlib / fs).
// A browser app bundles them itself and hands them over with `provideDicomModules` (examples/browser/dicom.ts).

/** An emscripten module factory as the cornerstone codecs export it. */
export type CodecFactory = (options?: { locateFile?: (path: string, prefix: string) => string; print?: (s: string) => void; printErr?: (s: string) => void }) => Promise<any>;

/** Modules that an app may provide instead of the dynamic imports (all optional). */
export interface DicomModules {
  /** `import * as dicomParser from 'dicom-parser'` */
  dicomParser?: any;
  /** `import { Inflate } from 'fflate'` wrapped as `{ Inflate }` */
  fflate?: any;
  /** `@cornerstonejs/codec-libjpeg-turbo-8bit/decode` */
  libjpegTurbo?: CodecFactory;
  /** `@cornerstonejs/codec-charls/decode` */
  charls?: CodecFactory;
  /** `@cornerstonejs/codec-openjpeg/decode` */
  openjpeg?: CodecFactory;
  /** `@cornerstonejs/codec-openjph` */
  openjph?: CodecFactory;
  /** `import * as jpegLossless from 'jpeg-lossless-decoder-js'` */
  jpegLossless?: any;
  /** `import dcmjsCodecs from 'dcmjs-codecs'` (optional peer: 12-bit lossy JPEG) */
  dcmjsCodecs?: any;
  /** URL of dcmjs-codecs' `dcmjs-native-codecs.wasm` (browsers; Node reads it beside the package's script) */
  dcmjsCodecsWasm?: string;
  /** Where emscripten finds a codec's .wasm file (OpenJPH ships only a wasm build); default: beside its script. */
  locateFile?: (path: string, prefix: string) => string;
}

const SPECIFIERS = {
  dicomParser: 'dicom-parser',
  fflate: 'fflate',
  libjpegTurbo: '@cornerstonejs/codec-libjpeg-turbo-8bit/decode',
  charls: '@cornerstonejs/codec-charls/decode',
  openjpeg: '@cornerstonejs/codec-openjpeg/decode',
  openjph: '@cornerstonejs/codec-openjph',
  jpegLossless: 'jpeg-lossless-decoder-js',
  dcmjsCodecs: 'dcmjs-codecs',
} as const;

type ModuleName = keyof typeof SPECIFIERS;
/** Pinned in package.json's optional peers; named in the install hint. */
const DCMJS_CODECS_VERSION = '0.0.8';
const provided: DicomModules = {};
const loaded = new Map<ModuleName, Promise<any>>();
const codecInstances = new Map<ModuleName, Promise<any>>();
let dcmtk: Promise<any> | undefined;

/**
 * Hands decodeDicom modules that a bundler already included (browsers), instead of its dynamic imports.
 * @example provideDicomModules({ dicomParser, charls: charlsFactory });
 */
export function provideDicomModules(modules: DicomModules): void {
  Object.assign(provided, modules);
  for (const k of Object.keys(modules)) {
    loaded.delete(k as ModuleName);
    codecInstances.delete(k as ModuleName);
  }
  if ('dcmjsCodecs' in modules || 'dcmjsCodecsWasm' in modules) dcmtk = undefined;
}

function missingMessage(name: ModuleName, spec: string, e: Error): string {
  if (name === 'dcmjsCodecs') {
    return `12-bit lossy JPEG needs the optional package 'dcmjs-codecs' (DCMTK's JPEG decoder compiled to wasm), which could not be loaded (${e.message}). Install it (npm install dcmjs-codecs@${DCMJS_CODECS_VERSION}) or pass it to provideDicomModules(); or decompress the file first (dcmdjpeg or gdcmconv --raw).`;
  }
  return `DICOM support needs the package '${spec}', which could not be loaded (${e.message}). Install it (npm install ${spec.replace(/\/decode$/, '')}) or pass it to provideDicomModules().`;
}

/** The module `name`, as provided or by dynamic import; a clear error when it is not installed. */
export function loadModule(name: ModuleName): Promise<any> {
  let p = loaded.get(name);
  if (!p) {
    const given = provided[name];
    const spec: string = SPECIFIERS[name];
    p = given
      ? Promise.resolve(given)
      : import(/* webpackIgnore: true */ /* @vite-ignore */ spec).then(
          (m) => m,
          (e: Error) => {
            loaded.delete(name);
            throw new Error(missingMessage(name, spec, e));
          },
        );
    loaded.set(name, p);
  }
  return p;
}

/** Forgets a codec instance (after a decoder aborted, emscripten refuses further calls on it). */
export function resetCodec(name: 'libjpegTurbo' | 'charls' | 'openjpeg' | 'openjph'): void {
  codecInstances.delete(name);
}

/** The instantiated emscripten module of a codec (one per process; each decode makes its own decoder object). */
export function loadCodec(name: 'libjpegTurbo' | 'charls' | 'openjpeg' | 'openjph'): Promise<any> {
  let p = codecInstances.get(name);
  if (!p) {
    p = loadModule(name).then((m) => {
      const factory: CodecFactory = typeof m === 'function' ? m : (m.default ?? m);
      // quiet: OpenJPEG prints [INFO] lines through emscripten's print
      const quiet = { print: () => {}, printErr: () => {} };
      return factory(provided.locateFile ? { ...quiet, locateFile: provided.locateFile } : quiet);
    });
    p.catch(() => codecInstances.delete(name));
    codecInstances.set(name, p);
  }
  return p;
}

/**
 * dcmjs-codecs with its wasm instantiated (once per process). Its NativeCodecs is a static singleton: a
 * failed decode may leave allocations in the wasm heap, so the caller calls {@link resetDcmtk} after one.
 */
export function loadDcmtk(): Promise<any> {
  if (!dcmtk) {
    const p = loadModule('dcmjsCodecs').then(async (m) => {
      const lib = m.NativeCodecs ? m : m.default; // the UMD bundle's exports sit on `default` under ESM
      const url = provided.dcmjsCodecsWasm;
      await lib.NativeCodecs.initializeAsync(url ? { webAssemblyModulePathOrUrl: url } : {});
      return lib;
    });
    p.catch(() => {
      if (dcmtk === p) dcmtk = undefined;
    });
    dcmtk = p;
  }
  return dcmtk;
}

/** Drops dcmjs-codecs' wasm instance after a failed decode; the next call instantiates a fresh one. */
export function resetDcmtk(lib: any): void {
  lib.NativeCodecs.release();
  dcmtk = undefined;
}
