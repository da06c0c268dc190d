"""Reference outputs of torchvision 0.14's preprocessing on PIL images (what `Weights.transforms()` users run).

Run with Debian's interpreter: /usr/bin/python3 tools/make_preprocess_fixtures.py
Writes test/fixtures/preprocess/: reference.json with, per weights, the transform's parameters, per-row and
per-column sums and a dense random sample of the normalised output of the full `transforms()`; for resnet18 and
the gray data-pipeline cases also the whole 8-bit image after Resize + CenterCrop (PIL) as gzip'd HWC bytes
(checked here to give the transform's output as (u8 / 255 - mean) / std). The input image is made by
a formula in integer arithmetic that test/preprocess.test.ts repeats, so it is not committed.
"""
import gzip
import json
import os

import numpy as np
import PIL
import torch
import torchvision
from PIL import Image
from torchvision import transforms as T
from torchvision.models import EfficientNet_B0_Weights, Inception_V3_Weights, ResNet18_Weights

OUT = os.path.join(os.path.dirname(__file__), '..', 'test', 'fixtures', 'preprocess')
os.makedirs(OUT, exist_ok=True)

H, W = 900, 1200


def test_image():
    """uint8 [H, W, 3]: fine diagonal stripes (period 17 px, full of detail an unfiltered resize aliases) plus
    a smooth ramp per channel. Integer arithmetic only, repeated in test/preprocess.test.ts."""
    y, x = np.mgrid[0:H, 0:W].astype(np.int64)
    hi = ((x * 7 + y * 13) % 17) * 8
    ramps = [(x * 127) // (W - 1), (y * 127) // (H - 1), ((x + y) * 127) // (W + H - 2)]
    return np.stack([hi + r for r in ramps], axis=-1).astype(np.uint8)


def write_gz(name, u8):
    with open(os.path.join(OUT, name), 'wb') as raw:
        with gzip.GzipFile(fileobj=raw, mode='wb', compresslevel=9, mtime=0) as f:
            f.write(np.ascontiguousarray(u8).tobytes())


def r6(a):
    return [round(float(v), 6) for v in np.asarray(a).reshape(-1)]


img = test_image()
pil = Image.fromarray(img, 'RGB')
rng = np.random.default_rng(0)
cases = {}
for name, weights in [('resnet18', ResNet18_Weights.IMAGENET1K_V1), ('inception_v3', Inception_V3_Weights.IMAGENET1K_V1),
                      ('efficientnet_b0', EfficientNet_B0_Weights.IMAGENET1K_V1)]:
    tr = weights.transforms()
    out = tr(pil)
    mean, std = list(tr.mean), list(tr.std)
    if name == 'inception_v3':
        # torchvision builds inception_v3 with transform_input=True for these weights: the first convolution sees
        # the transform's ImageNet-normalised output turned into (pixel - 0.5) / 0.5. Our port has no such layer,
        # so its preprocessing must produce what the first convolution sees.
        net = torchvision.models.inception_v3(weights=None, aux_logits=False, init_weights=False, transform_input=True)
        with torch.no_grad():
            out = net._transform_input(out[None])[0]
        mean, std = [0.5] * 3, [0.5] * 3
    out = out.permute(1, 2, 0).numpy()  # [crop, crop, 3] normalised
    geo = T.Compose([T.Resize(tr.resize_size, interpolation=tr.interpolation), T.CenterCrop(tr.crop_size)])
    u8 = np.asarray(geo(pil))
    mean, std = np.array(mean, dtype=np.float32), np.array(std, dtype=np.float32)
    again = (u8.astype(np.float32) / 255 - mean) / std
    assert np.abs(again - out).max() < 1e-5, name
    idx = np.sort(rng.choice(out.size, 1500, replace=False))
    if name == 'resnet18':  # the whole image for one case; sums and a dense sample for the others (small fixtures)
        write_gz(f'{name}.u8.gz', u8)
    cases[name] = {
        'resizeSize': tr.resize_size[0], 'cropSize': tr.crop_size[0], 'interpolation': tr.interpolation.value,
        'mean': mean.astype(float).round(6).tolist(), 'std': std.astype(float).round(6).tolist(), 'shape': list(out.shape),
        'rowSums': r6(out.sum(axis=(1, 2), dtype=np.float64)), 'colSums': r6(out.sum(axis=0, dtype=np.float64).reshape(-1)),
        'sampleIndex': idx.tolist(), 'sample': r6(out.reshape(-1)[idx]),
    }

# The data pipeline: gray image (PIL convert('L')), shorter side to 224, centre crop 224 (`loadChexpert` 'crop').
gray = pil.convert('L')
for size in [224, 64]:
    u8 = np.asarray(T.Compose([T.Resize(size), T.CenterCrop(size)])(gray))
    write_gz(f'gray{size}.u8.gz', u8)
    cases[f'gray{size}'] = {'resizeSize': size, 'cropSize': size, 'interpolation': 'bilinear', 'shape': list(u8.shape)}

with open(os.path.join(OUT, 'reference.json'), 'w') as f:
    json.dump({'torch': torch.__version__, 'torchvision': torchvision.__version__, 'PIL': PIL.__version__,
               'image': [H, W, 3], 'cases': cases}, f)
print({k: os.path.getsize(os.path.join(OUT, k)) for k in sorted(os.listdir(OUT))})
