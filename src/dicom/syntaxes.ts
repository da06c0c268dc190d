// The transfer syntaxes decodeDicom reads: one table, the one source for names, byte order and codec.

/** How a transfer syntax stores its pixels. */
export type PixelEncoding = 'native' | 'deflate' | 'rle' | 'jpeg' | 'jpeg-lossless' | 'jpeg-ls' | 'j2k' | 'htj2k';

export interface TransferSyntax {
  uid: string;
  name: string;
  encoding: PixelEncoding;
  littleEndian: boolean;
  explicitVR: boolean;
}

const T = (uid: string, name: string, encoding: PixelEncoding, littleEndian = true, explicitVR = true): TransferSyntax => ({ uid, name, encoding, littleEndian, explicitVR });

/** Every transfer syntax that decodeDicom reads (docs/dicom.md lists the same). */
export const TRANSFER_SYNTAXES: readonly TransferSyntax[] = [
  T('1.2.840.10008.1.2', 'Implicit VR Little Endian', 'native', true, false),
  T('1.2.840.10008.1.2.1', 'Explicit VR Little Endian', 'native'),
  T('1.2.840.10008.1.2.2', 'Explicit VR Big Endian', 'native', false),
  T('1.2.840.10008.1.2.1.99', 'Deflated Explicit VR Little Endian', 'deflate'),
  T('1.2.840.10008.1.2.5', 'RLE Lossless', 'rle'),
  T('1.2.840.10008.1.2.4.50', 'JPEG Baseline (Process 1)', 'jpeg'),
  T('1.2.840.10008.1.2.4.51', 'JPEG Extended (Process 2 & 4)', 'jpeg'),
  T('1.2.840.10008.1.2.4.57', 'JPEG Lossless, Non-Hierarchical (Process 14)', 'jpeg-lossless'),
  T('1.2.840.10008.1.2.4.70', 'JPEG Lossless, Non-Hierarchical, First-Order Prediction (Process 14, Selection Value 1)', 'jpeg-lossless'),
  T('1.2.840.10008.1.2.4.80', 'JPEG-LS Lossless', 'jpeg-ls'),
  T('1.2.840.10008.1.2.4.81', 'JPEG-LS Near-Lossless', 'jpeg-ls'),
  T('1.2.840.10008.1.2.4.90', 'JPEG 2000 (Lossless Only)', 'j2k'),
  T('1.2.840.10008.1.2.4.91', 'JPEG 2000', 'j2k'),
  T('1.2.840.10008.1.2.4.201', 'HTJ2K (Lossless Only)', 'htj2k'),
  T('1.2.840.10008.1.2.4.202', 'HTJ2K with RPCL Options (Lossless Only)', 'htj2k'),
  T('1.2.840.10008.1.2.4.203', 'HTJ2K', 'htj2k'),
];

const BY_UID = new Map(TRANSFER_SYNTAXES.map((t) => [t.uid, t]));

/** The transfer syntax of a UID, or undefined when decodeDicom does not read it. */
export function transferSyntax(uid: string): TransferSyntax | undefined {
  return BY_UID.get(uid);
}
