#!/usr/bin/python3
"""Writes the DICOM fixtures of test/dicom.test.ts and the outputs pydicom expects.

Run with Debian's Python (`/usr/bin/python3 tools/make_dicom_fixtures.py`); it needs python3-pydicom (2.3.1),
python3-numpy, python3-pil (with Debian's libopenjp2-7 2.5.0, which decodes HTJ2K), dcmtk (dcmconv, dcmcjpeg,
dcmcjpls, dcmdjpeg, dcmdjpls) and libgdcm-tools (gdcmconv), and Node with the project's node_modules for HTJ2K
(tools/htj2k_encode.ts; no Debian tool writes HTJ2K).

Each fixture is a small (64 x 48) image written uncompressed by pydicom, then re-encoded by dcmtk or gdcm for the
compressed transfer syntaxes. The expected output comes from an independent decoder: dcmtk / gdcm decompress
the file to explicit little endian, pydicom reads it (numpy handler) and applies `apply_modality_lut` and
`apply_voi_lut`, and the policy's scaling below maps the result to [0, 1]. For lossless syntaxes the script
also checks that the decompressed pixels equal the originals.

Policy scaling (docs/dicom.md; src/dicom/intensity.ts implements the same):
  voi:    modality LUT, then the VOI LUT Sequence (output / (2^depth - 1)) or the window (output - y_min) /
          (y_max - y_min) with pydicom's y range; with neither, min-max of the modality output.
  minmax: modality LUT, then (x - min) / (max - min).
  Both invert (1 - v) when Photometric Interpretation is MONOCHROME1 or Presentation LUT Shape is INVERSE.
  Colour: pixel_array converted to RGB (pydicom's convert_color_space for YBR) then PIL's convert('L') luma
  (R*19595 + G*38470 + B*7471 + 0x8000) >> 16, over 255.

HTJ2K (.201 / .202 / .203): no Debian tool writes it, so OpenJPH's encoder makes the codestreams
(tools/htj2k_encode.ts) and pydicom encapsulates them; pydicom 2.3.1 cannot decode HTJ2K, so the expected pixels
come from Debian's OpenJPEG 2.5.0 (python3-pil), a decoder decodeDicom does not use. .202 is checked for what
PS3.5 requires of it (RPCL, TLM, a lowest resolution <= 64 pixels).

Outputs: test/fixtures/dicom/NAME.dcm, NAME.expected.u16 (round(v * 65535), little endian) and manifest.json.
UIDs are deterministic, so a rerun rewrites the same bytes, except u12_j2k_lossy.dcm (gdcm gives a lossy file a
new UID; its expected pixels do not change). `--only NAME[,NAME]` rewrites just those fixtures and their manifest
entries (the set is built in a temporary folder), so adding a fixture does not touch the others.
"""
import argparse
import copy
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import pydicom
from PIL import Image
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.pixel_data_handlers.util import apply_modality_lut, apply_voi_lut, convert_color_space
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, ExplicitVRBigEndian, generate_uid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, 'test', 'fixtures', 'dicom')
W, H = 64, 48
SC_UID = '1.2.840.10008.5.1.4.1.1.7'  # Secondary Capture
DX_UID = '1.2.840.10008.5.1.4.1.1.1.1'
HTJ2K_LOSSLESS = '1.2.840.10008.1.2.4.201'
HTJ2K_RPCL = '1.2.840.10008.1.2.4.202'
HTJ2K_LOSSY = '1.2.840.10008.1.2.4.203'
# pydicom 2.3.1 predates HTJ2K: name its transfer syntaxes so that pydicom writes them encapsulated
for _uid, _name, _keyword in (
        (HTJ2K_LOSSLESS, 'High-Throughput JPEG 2000 Image Compression (Lossless Only)', 'HTJ2KLossless'),
        (HTJ2K_RPCL, 'High-Throughput JPEG 2000 with RPCL Options Image Compression (Lossless Only)', 'HTJ2KLosslessRPCL'),
        (HTJ2K_LOSSY, 'High-Throughput JPEG 2000 Image Compression', 'HTJ2K')):
    pydicom._uid_dict.UID_dictionary.setdefault(_uid, (_name, 'Transfer Syntax', '', '', _keyword))


def phantom(lo, hi, seed, frames=1):
    """A smooth gradient with a bright disc, a dark bar and mild noise, over [lo, hi] (integers)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float64)
    out = []
    for f in range(frames):
        v = 0.15 + 0.6 * (xx / (W - 1)) * (0.6 + 0.4 * yy / (H - 1))
        v[(xx - 40 - 3 * f) ** 2 + (yy - 20) ** 2 < 81] = 0.97
        v[30:36, 6:30] = 0.02
        v = np.clip(v + rng.normal(0, 0.02, v.shape), 0, 1)
        out.append(np.round(lo + v * (hi - lo)))
    a = np.stack(out)
    return a if frames > 1 else a[0]


def colour_phantom(seed):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float64)
    r = 255 * xx / (W - 1)
    g = 255 * yy / (H - 1)
    b = 128 + 100 * np.sin(xx / 5.0) * np.cos(yy / 7.0)
    a = np.stack([r, g, b], -1) + rng.normal(0, 3, (H, W, 3))
    return np.clip(np.round(a), 0, 255).astype(np.uint8)


_uid_counter = [0]


def fixture_uid():
    """Deterministic UIDs (a counter as the entropy source), so rerunning the script rewrites the same bytes."""
    _uid_counter[0] += 1
    return generate_uid(prefix='1.2.826.0.1.3680043.10.543.', entropy_srcs=[f'chexzoo-fixture-{_uid_counter[0]}'])


def base_dataset(ts, sop=DX_UID):
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop
    meta.MediaStorageSOPInstanceUID = fixture_uid()
    meta.TransferSyntaxUID = ts
    meta.ImplementationClassUID = '1.2.826.0.1.3680043.10.543.1'
    ds = FileDataset(None, {}, file_meta=meta, preamble=b'\0' * 128)
    ds.is_little_endian = ts != ExplicitVRBigEndian
    ds.is_implicit_VR = ts == ImplicitVRLittleEndian
    ds.SOPClassUID = sop
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = fixture_uid()
    ds.SeriesInstanceUID = fixture_uid()
    # identifying tags that decodeDicom must never return (test/dicom.test.ts checks)
    ds.PatientName = 'Fixture^Synthetic'
    ds.PatientID = 'FIXTURE-0001'
    ds.PatientBirthDate = '19700101'
    ds.Modality = 'DX'
    ds.ViewPosition = 'PA'
    ds.PixelSpacing = [0.139, 0.139]
    ds.Rows, ds.Columns = H, W
    return ds


def mono(ds, arr, bits_alloc, bits_stored, signed, photometric='MONOCHROME2'):
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = bits_alloc
    ds.BitsStored = bits_stored
    ds.HighBit = bits_stored - 1
    ds.PixelRepresentation = 1 if signed else 0
    dt = {(8, False): 'u1', (8, True): 'i1', (16, False): 'u2', (16, True): 'i2'}[(bits_alloc, signed)]
    order = '<' if ds.is_little_endian else '>'
    if arr.ndim == 3:
        ds.NumberOfFrames = arr.shape[0]
    data = arr.astype(order + dt) if bits_alloc > 8 else arr.astype(dt)
    ds.PixelData = data.tobytes()
    return ds


def lut_item(descriptor, data, explanation=None):
    item = Dataset()
    item.LUTDescriptor = descriptor
    item.add_new(0x00283006, 'OW', np.asarray(data, '<u2').tobytes())
    if explanation:
        item.LUTExplanation = explanation
    return item


def save(ds, name):
    path = os.path.join(OUT, name + '.dcm')
    ds.save_as(path, write_like_original=False)
    return path


def run(*cmd):
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


# ---- expected outputs -----------------------------------------------------------------------------------------

def invert_wanted(ds):
    return ds.get('PhotometricInterpretation') == 'MONOCHROME1' or ds.get('PresentationLUTShape') == 'INVERSE'


def y_range(ds):
    """pydicom 2.3.1 apply_windowing's output range, computed the same way."""
    if ds.get('ModalityLUTSequence'):
        y_min, y_max = 0, 2 ** ds.ModalityLUTSequence[0].LUTDescriptor[2] - 1
    elif ds.PixelRepresentation == 0:
        y_min, y_max = 0, 2 ** ds.BitsStored - 1
    else:
        y_min, y_max = -2 ** (ds.BitsStored - 1), 2 ** (ds.BitsStored - 1) - 1
    if 'RescaleSlope' in ds and 'RescaleIntercept' in ds:
        y_min = y_min * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
        y_max = y_max * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    return y_min, y_max


def minmax(v):
    lo, hi = float(v.min()), float(v.max())
    return np.zeros_like(v, dtype=np.float64) if hi == lo else (v.astype(np.float64) - lo) / (hi - lo)


def expected_mono(ds, arr, policy, voi_index):
    m = apply_modality_lut(arr, ds)
    if policy == 'minmax':
        v = minmax(m)
    elif ds.get('VOILUTSequence'):
        depth = ds.VOILUTSequence[voi_index].LUTDescriptor[2]
        v = apply_voi_lut(m, ds, index=voi_index).astype(np.float64) / (2 ** depth - 1)
    elif 'WindowCenter' in ds and 'WindowWidth' in ds:
        y_min, y_max = y_range(ds)
        v = (apply_voi_lut(m, ds, index=voi_index) - y_min) / (y_max - y_min)
    else:
        v = minmax(m)
    v = np.clip(v, 0, 1)
    return 1 - v if invert_wanted(ds) else v


def expected_colour(ds, arr):
    if ds.PhotometricInterpretation in ('YBR_FULL', 'YBR_FULL_422'):
        arr = convert_color_space(arr, 'YBR_FULL', 'RGB')
    a = arr.astype(np.int64)
    g = (a[..., 0] * 19595 + a[..., 1] * 38470 + a[..., 2] * 7471 + 0x8000) >> 16
    return g.astype(np.float64) / 255


def decompressed(path, ts):
    """Pixels of `path` as decoded by dcmtk / gdcm (not by our code), read back by pydicom's numpy handler."""
    if ts in (ExplicitVRLittleEndian, ImplicitVRLittleEndian, ExplicitVRBigEndian, '1.2.840.10008.1.2.1.99', '1.2.840.10008.1.2.5'):
        ds = pydicom.dcmread(path)
        return ds, ds.pixel_array
    tmp = path + '.raw.dcm'
    try:
        if ts.startswith('1.2.840.10008.1.2.4.5') or ts in ('1.2.840.10008.1.2.4.57', '1.2.840.10008.1.2.4.70'):
            run('dcmdjpeg', path, tmp)  # YCbCr becomes RGB (libjpeg's conversion), as in decodeDicom
        elif ts in ('1.2.840.10008.1.2.4.80', '1.2.840.10008.1.2.4.81'):
            run('dcmdjpls', path, tmp)
        else:
            run('gdcmconv', '--raw', path, tmp)
        ds = pydicom.dcmread(tmp)
        return ds, ds.pixel_array
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


# ---- the fixture set ------------------------------------------------------------------------------------------

def build():
    fx = []  # (name, options, lossless_source_array or None)

    def add(name, ds, options=None, reference=None):
        save(ds, name)
        fx.append((name, options or {}, reference))

    # 1. 12 of 16 bits, unsigned, MONOCHROME2, explicit VR LE, LINEAR window, identity rescale
    a12 = phantom(0, 4095, 1)
    ds = mono(base_dataset(ExplicitVRLittleEndian), a12, 16, 12, False)
    ds.WindowCenter, ds.WindowWidth = 2000, 3000
    ds.RescaleSlope, ds.RescaleIntercept = 1, 0
    add('u12_mono2_explicit_linear', ds, {}, a12)
    base_u12 = ds

    # 2. signed 16 bits, implicit VR LE, rescale, two windows with LINEAR_EXACT (index 1 chosen)
    s16 = phantom(-3000, 20000, 2)
    ds = mono(base_dataset(ImplicitVRLittleEndian), s16, 16, 16, True)
    ds.RescaleSlope, ds.RescaleIntercept = 0.5, -1024
    ds.WindowCenter, ds.WindowWidth = [3000, 1500], [12000, 4000]
    ds.WindowCenterWidthExplanation = ['WIDE', 'NARROW']
    ds.VOILUTFunction = 'LINEAR_EXACT'
    add('s16_mono2_implicit_linear_exact', ds, {}, s16)
    add('s16_mono2_implicit_linear_exact_voi1', ds, {'voiIndex': 1}, s16)
    add('s16_mono2_implicit_minmax', ds, {'policy': 'minmax'}, s16)

    # 3. signed 12 of 16 bits, explicit VR big endian, MONOCHROME1, SIGMOID
    s12 = phantom(-2048, 2047, 3)
    ds = mono(base_dataset(ExplicitVRBigEndian), s12, 16, 12, True, 'MONOCHROME1')
    ds.WindowCenter, ds.WindowWidth = 100, 2500
    ds.VOILUTFunction = 'SIGMOID'
    add('s12_mono1_bigendian_sigmoid', ds, {}, s12)
    add('s12_mono1_bigendian_minmax', ds, {'policy': 'minmax'}, s12)
    base_s12 = ds

    # 4. 8 bits unsigned, no window (voi falls back to min-max), MONOCHROME2
    u8 = phantom(10, 240, 4)
    ds = mono(base_dataset(ExplicitVRLittleEndian), u8, 8, 8, False)
    add('u8_mono2_nowindow', ds, {}, u8)
    base_u8 = ds

    # 5. signed 8 bits, MONOCHROME1, window
    s8 = phantom(-128, 127, 5)
    ds = mono(base_dataset(ExplicitVRLittleEndian), s8, 8, 8, True, 'MONOCHROME1')
    ds.WindowCenter, ds.WindowWidth = 0, 200
    add('s8_mono1_linear', ds, {}, s8)

    # 6. VOI LUT Sequence (12-bit entries), Presentation LUT Shape INVERSE
    a10 = phantom(0, 1023, 6)
    ds = mono(base_dataset(ExplicitVRLittleEndian), a10, 16, 10, False)
    lut = np.round(4095 * (np.linspace(0, 1, 900) ** 0.6))
    ds.VOILUTSequence = Sequence([lut_item([900, 60, 12], lut, 'GAMMA')])
    ds.WindowCenter, ds.WindowWidth = 500, 1000  # the LUT wins, as in pydicom (prefer_lut)
    ds.PresentationLUTShape = 'INVERSE'
    add('u10_voilut_sequence_inverse', ds, {}, a10)

    # 7. Modality LUT Sequence, then a LINEAR window over its output
    ds = mono(base_dataset(ExplicitVRLittleEndian), a10, 16, 10, False)
    mlut = np.round(65535 * np.sqrt(np.linspace(0, 1, 1024)))  # pydicom 2.3.1 takes 8 or 16 bit entries here
    ds.ModalityLUTSequence = Sequence([lut_item([1024, 0, 16], mlut)])
    ds.WindowCenter, ds.WindowWidth = 40000, 50000
    add('u10_modality_lut_sequence', ds, {}, a10)

    # 8. unused high bits set: decodeDicom masks bits stored (pydicom 2.3.1 does not, so the reference masks)
    dirty = a12.astype(np.uint16) | 0xF000
    ds = mono(base_dataset(ExplicitVRLittleEndian), dirty, 16, 12, False)
    ds.WindowCenter, ds.WindowWidth = 2000, 3000
    add('u12_dirty_high_bits', ds, {'maskedReference': True}, a12)

    # 9. multi-frame (3 frames): the first and a chosen one
    mf = phantom(0, 4095, 9, frames=3)
    ds = mono(base_dataset(ExplicitVRLittleEndian), mf, 16, 12, False)
    ds.WindowCenter, ds.WindowWidth = 2048, 4096
    add('u12_multiframe', ds, {}, mf)
    add('u12_multiframe_f2', ds, {'frame': 2}, mf)
    base_mf = ds

    # 10. colour: RGB interleaved and planar, YBR_FULL, YBR_FULL_422 (uncompressed)
    rgb = colour_phantom(10)
    for name, planar in (('rgb8_interleaved', 0), ('rgb8_planar', 1)):
        ds = base_dataset(ExplicitVRLittleEndian, SC_UID)
        ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, 'RGB', planar
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
        ds.PixelData = (rgb.transpose(2, 0, 1) if planar else rgb).tobytes()
        add(name, ds, {}, rgb)
        if not planar:
            base_rgb = ds
    ybr = convert_color_space(rgb, 'RGB', 'YBR_FULL')
    ds = base_dataset(ExplicitVRLittleEndian, SC_UID)
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, 'YBR_FULL', 0
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = ybr.tobytes()
    add('ybr_full', ds, {}, None)
    # 4:2:2: Y0 Y1 Cb Cr for each pair of pixels (the chroma of the pair's first pixel)
    pairs = ybr.reshape(H, W // 2, 2, 3)
    packed = np.stack([pairs[:, :, 0, 0], pairs[:, :, 1, 0], pairs[:, :, 0, 1], pairs[:, :, 0, 2]], -1)
    ds = base_dataset(ExplicitVRLittleEndian, SC_UID)
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, 'YBR_FULL_422', 0
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = packed.astype(np.uint8).tobytes()
    add('ybr_full_422', ds, {}, None)

    tmp = tempfile.mkdtemp()
    try:
        encode_compressed(fx, tmp, base_u12, base_u8, base_mf, base_rgb, a12, u8, mf, rgb)
        encode_htj2k(fx, tmp, base_u12, a12, base_s12, s12)
    finally:
        shutil.rmtree(tmp)
    return fx


def transcode(src_ds, name, cmd, fx, options, reference):
    """Writes `src_ds` uncompressed to a temp file, runs `cmd` (with {in} / {out}) into NAME.dcm."""
    tmp_in = os.path.join(OUT, name + '.src.dcm')
    src_ds.save_as(tmp_in, write_like_original=False)
    out = os.path.join(OUT, name + '.dcm')
    try:
        run(*[c.format(inp=tmp_in, out=out) for c in cmd])
    finally:
        os.remove(tmp_in)
    fx.append((name, options, reference))


def encode_compressed(fx, tmp, u12, u8, mf, rgb_ds, a12, a8, amf, rgb):
    transcode(u12, 'u12_deflate', ['dcmconv', '+td', '{inp}', '{out}'], fx, {}, a12)
    transcode(u12, 'u12_rle', ['gdcmconv', '--rle', '{inp}', '{out}'], fx, {}, a12)
    transcode(u8, 'u8_rle', ['gdcmconv', '--rle', '{inp}', '{out}'], fx, {}, a8)
    transcode(rgb_ds, 'rgb8_rle', ['gdcmconv', '--rle', '{inp}', '{out}'], fx, {}, rgb)
    transcode(mf, 'u12_multiframe_rle_f1', ['gdcmconv', '--rle', '{inp}', '{out}'], fx, {'frame': 1}, amf)
    transcode(u8, 'u8_jpeg_baseline', ['dcmcjpeg', '+un', '+eb', '+q', '95', '{inp}', '{out}'], fx, {'lossy': True}, None)
    transcode(rgb_ds, 'rgb8_jpeg_baseline', ['dcmcjpeg', '+un', '+eb', '+q', '95', '+cy', '{inp}', '{out}'], fx, {'lossy': True}, None)
    transcode(u8, 'u8_jpeg_extended', ['dcmcjpeg', '+un', '+ee', '+q', '95', '{inp}', '{out}'], fx, {'lossy': True}, None)
    transcode(u12, 'u12_jpeg_extended', ['dcmcjpeg', '+un', '+ee', '+q', '95', '{inp}', '{out}'], fx, {'lossy': True}, None)
    transcode(u12, 'u12_jpeg_lossless_sv1', ['dcmcjpeg', '+e1', '{inp}', '{out}'], fx, {}, a12)
    transcode(u8, 'u8_jpeg_lossless_sv1', ['dcmcjpeg', '+e1', '{inp}', '{out}'], fx, {}, a8)
    transcode(u12, 'u12_jpeg_lossless_sv6', ['dcmcjpeg', '+el', '+sv', '6', '{inp}', '{out}'], fx, {}, a12)
    transcode(u12, 'u12_jpegls_lossless', ['dcmcjpls', '+el', '{inp}', '{out}'], fx, {}, a12)
    transcode(u12, 'u12_jpegls_near', ['dcmcjpls', '+un', '+en', '+md', '2', '{inp}', '{out}'], fx, {'lossy': True}, None)
    transcode(u12, 'u12_j2k_lossless', ['gdcmconv', '--j2k', '{inp}', '{out}'], fx, {}, a12)
    transcode(u12, 'u12_j2k_lossy', ['gdcmconv', '--j2k', '--lossy', '-q', '60', '{inp}', '{out}'], fx, {'lossy': True}, None)
    transcode(rgb_ds, 'rgb8_j2k_lossless', ['gdcmconv', '--j2k', '{inp}', '{out}'], fx, {}, rgb)


# ---- HTJ2K ----------------------------------------------------------------------------------------------------
# No Debian tool writes HTJ2K, so OpenJPH's encoder (@cornerstonejs/codec-openjph, tools/htj2k_encode.ts) makes the
# codestreams and pydicom encapsulates them. pydicom 2.3.1 cannot decode HTJ2K either; the reference decoder is
# Debian's OpenJPEG 2.5.0 through python3-pil, which decodeDicom does not use (it decodes HTJ2K with OpenJPH).

LOSSY_QSTEP = 0.03  # OpenJPH's base step: mean error ~45 of 4095 on u12 (~4 grey levels of 255 after the window)


def encode_htj2k(fx, tmp, u12, a12, s12_ds, s12):
    htj2k(u12, a12, 'u12_htj2k_lossless', fx, tmp)
    # every fixture above has its UIDs by now: the lossy file's new SOP Instance UID does not shift theirs
    htj2k(u12, a12, 'u12_htj2k_rpcl', fx, tmp, HTJ2K_RPCL, ['--rpcl'])
    htj2k(u12, a12, 'u12_htj2k_lossy', fx, tmp, HTJ2K_LOSSY, ['--irreversible', str(LOSSY_QSTEP)])
    htj2k(s12_ds, s12, 's12_mono1_htj2k_sigmoid', fx, tmp)


def htj2k(src, arr, name, fx, tmp, ts=HTJ2K_LOSSLESS, flags=()):
    """Encodes `arr` (the pixels of `src`) with OpenJPH into NAME.dcm; the reference pixels are OpenJPEG's decode,
    checked equal to `arr` when the encode is lossless."""
    bits, signed = int(src.BitsStored), src.PixelRepresentation == 1
    raw, j2c = os.path.join(tmp, 'in.raw'), os.path.join(tmp, name + '.j2c')
    arr.astype('<i2' if signed else '<u2').tofile(raw)
    subprocess.run(['npx', 'tsx', os.path.join(ROOT, 'tools', 'htj2k_encode.ts'), raw, j2c, str(W), str(H), str(bits),
                    '1' if signed else '0', *flags], check=True, cwd=ROOT, stderr=subprocess.DEVNULL)
    with open(j2c, 'rb') as f:
        codestream = f.read()
    if ts == HTJ2K_RPCL:
        check_rpcl(codestream, name)
    reference = openjpeg_decode(j2c, bits, signed)
    lossy = ts == HTJ2K_LOSSY
    err = np.abs(reference - arr.astype(np.int64))
    if lossy:
        print(f'{name}: OpenJPEG decode vs original: max {err.max()}, mean {err.mean():.1f} of {2 ** bits - 1}')
    elif err.any():
        sys.exit(f'{name}: OpenJPEG decodes the lossless codestream to other pixels than the original')
    ds = copy.deepcopy(src)
    ds.file_meta.TransferSyntaxUID = ts
    ds.is_little_endian, ds.is_implicit_VR = True, False
    if lossy:  # PS3.3 C.7.6.1.1.5: a lossy derivative is a new instance that says it was lossy compressed
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = fixture_uid()
        ds.LossyImageCompression = '01'
        ds.LossyImageCompressionRatio = f'{arr.size * 2 / len(codestream):.2f}'
        ds.LossyImageCompressionMethod = 'ISO_15444_15'
    ds.PixelData = encapsulate([codestream])
    ds['PixelData'].is_undefined_length = True
    ds['PixelData'].VR = 'OB'
    save(ds, name)
    fx.append((name, {'htj2k': True, 'lossy': lossy}, reference))


def openjpeg_decode(j2c, bits, signed):
    """A codestream decoded by OpenJPEG (PIL's JPEG 2000 plugin): PIL widens a 9..16-bit component to I;16 by shifting
    it left (16 - bits) and offsets signed samples by 2^(bits-1); undone here."""
    im = Image.open(j2c)
    if im.mode != 'I;16':
        sys.exit(f'{j2c}: PIL reads mode {im.mode}, expected I;16 for {bits} bits')
    a = np.asarray(im).astype(np.int64)
    shift = 16 - bits
    if (a & ((1 << shift) - 1)).any():
        sys.exit(f'{j2c}: PIL did not widen {bits} bits by a plain shift')
    a >>= shift
    return a - (1 << (bits - 1)) if signed else a


def check_rpcl(codestream, name):
    """PS3.5 sect. 10.18 for HTJ2K with RPCL Options: RPCL progression, a TLM marker segment, and enough
    decompositions for the lowest resolution to be <= 64 pixels wide or high. Reads the main header's markers."""
    i, seen = 2, {}
    while codestream[i] == 0xFF and codestream[i + 1] != 0x90:  # up to the first SOT
        length = int.from_bytes(codestream[i + 2:i + 4], 'big')
        seen[codestream[i + 1]] = codestream[i + 4:i + 2 + length]
        i += 2 + length
    cod, progression, levels = seen.get(0x52), None, None
    if cod:
        progression, levels = cod[1], cod[5]  # Scod, then SGcod (progression, layers x2, MCT), then SPcod levels
    lowest = min(-(-W // 2 ** levels), -(-H // 2 ** levels)) if levels is not None else None
    if progression != 2 or 0x55 not in seen or lowest is None or lowest > 64:
        sys.exit(f'{name}: not an RPCL-options codestream (progression {progression}, TLM {0x55 in seen}, lowest {lowest})')


def expected_for(name, options, reference):
    path = os.path.join(OUT, name + '.dcm')
    src = pydicom.dcmread(path)
    ts = str(src.file_meta.TransferSyntaxUID)
    if options.get('htj2k'):
        ds, arr = src, reference  # pydicom 2.3.1 cannot decode HTJ2K: OpenJPEG's decode (see htj2k)
    else:
        ds, arr = decompressed(path, ts)
    if options.get('maskedReference'):
        arr = arr & 0x0FFF
    if arr.ndim == 3 and ds.get('SamplesPerPixel', 1) == 1 or arr.ndim == 4:
        arr = arr[options.get('frame', 0)]
    if reference is not None and not options.get('maskedReference'):
        ref = reference[options.get('frame', 0)] if reference.ndim == arr.ndim + 1 else reference
        if not np.array_equal(arr.astype(np.int64), ref.astype(np.int64)):
            sys.exit(f'{name}: the lossless decode differs from the original pixels')
    if ds.get('SamplesPerPixel', 1) == 3:
        v = expected_colour(ds, arr)
    else:
        v = expected_mono(ds, arr, options.get('policy', 'voi'), options.get('voiIndex', 0))
    q = np.round(np.clip(v, 0, 1) * 65535).astype('<u2')
    q.tofile(os.path.join(OUT, name + '.expected.u16'))
    return {'name': name, 'file': name + '.dcm', 'transferSyntax': ts, 'width': W, 'height': H,
            'policy': options.get('policy', 'voi'), 'frame': options.get('frame', 0), 'voiIndex': options.get('voiIndex', 0),
            'lossy': bool(options.get('lossy')), 'photometric': str(src.PhotometricInterpretation)}


def main():
    global OUT
    parser = argparse.ArgumentParser(description='Writes the DICOM fixtures of test/dicom.test.ts.')
    parser.add_argument('--only', help='NAME[,NAME]: rewrite only these fixtures (and their manifest entries); the '
                        'whole set is still built, in a temporary folder, so UIDs stay as in a full run')
    only = parser.parse_args().only
    final = OUT
    if only:
        OUT = tempfile.mkdtemp()
    elif os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT, exist_ok=True)
    try:
        fx = build()
        manifest = [expected_for(n, o, r) for n, o, r in fx]
        if only:
            manifest = merge_only(manifest, set(only.split(',')), OUT, final)
    finally:
        if only:
            shutil.rmtree(OUT)
            OUT = final
    with open(os.path.join(OUT, 'manifest.json'), 'w') as f:
        json.dump({'generator': 'tools/make_dicom_fixtures.py', 'pydicom': pydicom.__version__, 'fixtures': manifest}, f, indent=1)
    total = sum(os.path.getsize(os.path.join(OUT, p)) for p in os.listdir(OUT))
    print(f'{len(manifest)} fixtures, {total} bytes in {OUT}')


def merge_only(manifest, names, built, final):
    """Copies the named fixtures from `built` into `final`; the manifest keeps the other entries as committed."""
    unknown = names - {m['name'] for m in manifest}
    if unknown:
        sys.exit(f'--only: no fixture named {", ".join(sorted(unknown))}')
    with open(os.path.join(final, 'manifest.json')) as f:
        old = {m['name']: m for m in json.load(f)['fixtures']}
    for name in names:
        for ext in ('.dcm', '.expected.u16'):
            shutil.copyfile(os.path.join(built, name + ext), os.path.join(final, name + ext))
    return [m if m['name'] in names else old[m['name']] for m in manifest if m['name'] in names or m['name'] in old]


if __name__ == '__main__':
    main()
