// One error type for every refused DICOM file, so callers (the dataset reader, the CLI) can count and report them.

/** A DICOM file that decodeDicom refuses; the message names the file (when known), the problem and the fix. */
export class DicomError extends Error {
  override name = 'DicomError';
  constructor(
    message: string,
    /** The file's name as passed in `options.name`, or `'<bytes>'`. */
    readonly file: string,
  ) {
    super(`${file}: ${message}`);
  }
}
