// The third-party parts decodeDicom builds on, loaded lazily: dicom-parser (parsing), fflate (deflate), the
// cornerstone codecs (libjpeg-turbo, CharLS, OpenJPEG, OpenJPH, compiled to JS/wasm) and jpeg-lossless-decoder-js.
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
} as const;

type ModuleName = keyof typeof SPECIFIERS;
const provided: DicomModules = {};
const loaded = new Map<ModuleName, Promise<any>>();
const codecInstances = new Map<ModuleName, Promise<any>>();

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
            throw new Error(`DICOM support needs the package '${spec}', which could not be loaded (${e.message}). Install it (npm install ${spec.replace(/\/decode$/, '')}) or pass it to provideDicomModules().`);
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
