// ONNX export: the public surface of src/onnx/ (browser-safe).
export { toOnnx, ONNX_OPSET } from './export.js';
export type { OnnxExportOptions } from './export.js';
export { transformersConfig } from './transformers.js';
export type { TransformersConfigOptions } from './transformers.js';
