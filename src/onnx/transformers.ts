// The two JSON files Transformers.js reads beside `onnx/model.onnx` to run an exported model as an image
// classifier (AutoModelForImageClassification + AutoProcessor). Browser-safe: returns objects.
//
// model_type 'resnet': Transformers.js maps it to ResNetForImageClassification, whose forward only runs the
// ONNX session on `pixel_values` and returns its `logits`, so any of our architectures fits. The processor is
// BitImageProcessor (the base ImageProcessor with no overrides): resize, rescale by 1/255, normalise.

/** Options of {@link transformersConfig}. */
export interface TransformersConfigOptions {
  /** Names of the outputs (a run's tasks), in order: id2label / label2id. */
  labels: string[];
  /** Side of the square input in pixels. */
  size: number;
  /** Resize filter of the weights' preprocessing. */
  interpolation: 'bilinear' | 'bicubic' | 'nearest';
  mean: number[];
  std: number[];
  /**
   * 'squash' resizes both axes to `size`; 'crop' resizes the shorter side to `size` and takes the centre
   * (torchvision's Resize(size) + CenterCrop(size)). Default 'squash'.
   */
  resize?: 'squash' | 'crop';
  /** The zoo architecture, recorded in config.json. */
  arch?: string;
}

// PIL's filter codes, which Transformers.js reads as `resample`
const PIL_RESAMPLE = { nearest: 0, bilinear: 2, bicubic: 3 } as const;

/**
 * `config.json` and `preprocessor_config.json` for a Transformers.js image classifier with multi-label outputs.
 * Its `image-classification` pipeline applies softmax; for sigmoid probabilities call the model directly
 * (see docs/export.md).
 * @example const { config, preprocessor } = transformersConfig({ labels: ['Edema'], size: 224, interpolation: 'bilinear', mean, std });
 */
export function transformersConfig(o: TransformersConfigOptions): { config: Record<string, unknown>; preprocessor: Record<string, unknown> } {
  if (o.labels.length === 0 || new Set(o.labels).size !== o.labels.length) {
    throw new Error(`transformersConfig: labels must be a non-empty list of distinct names; got [${o.labels.join(', ')}].`);
  }
  if (!(o.mean.length === 3 && o.std.length === 3)) throw new Error('transformersConfig: mean and std need 3 values (RGB).');
  const id2label = Object.fromEntries(o.labels.map((l, i) => [String(i), l]));
  const label2id = Object.fromEntries(o.labels.map((l, i) => [l, i]));
  const config = {
    model_type: 'resnet',
    architectures: ['ResNetForImageClassification'],
    problem_type: 'multi_label_classification',
    num_labels: o.labels.length,
    id2label,
    label2id,
    num_channels: 3,
    image_size: o.size,
    chexzoo_arch: o.arch ?? '',
  };
  const crop = o.resize === 'crop';
  const preprocessor = {
    image_processor_type: 'BitImageProcessor',
    do_convert_rgb: true,
    do_resize: true,
    size: crop ? { shortest_edge: o.size } : { height: o.size, width: o.size },
    resample: PIL_RESAMPLE[o.interpolation],
    do_center_crop: crop,
    ...(crop ? { crop_size: { height: o.size, width: o.size } } : {}),
    do_rescale: true,
    rescale_factor: 1 / 255,
    do_normalize: true,
    image_mean: o.mean,
    image_std: o.std,
  };
  return { config, preprocessor };
}
