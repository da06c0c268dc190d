#!/usr/bin/env python3
"""Writes the weight-loading fixtures in test/fixtures/weights/ with Debian's torch 1.13.

Run: /usr/bin/python3 tools/make_weight_fixtures.py
The TS tests build the same tiny network in TF.js (layer names = module paths) and compare
its outputs after loading these files with the torch outputs stored in tiny_ref.json.
"""
import collections
import json
import os
import struct

import torch
import torch.nn as nn

OUT = os.path.join(os.path.dirname(__file__), '..', 'test', 'fixtures', 'weights')
os.makedirs(OUT, exist_ok=True)
torch.manual_seed(1234)


class Tiny(nn.Module):
    """conv (no bias) -> BN -> ReLU -> depthwise conv (multiplier 2) -> ReLU -> global mean -> linear."""

    def __init__(self, classes=5):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(4)
        self.dw = nn.Conv2d(4, 8, 3, padding=1, groups=4, bias=True)
        self.fc = nn.Linear(8, classes)

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        x = torch.relu(self.dw(x))
        return self.fc(x.mean(dim=(2, 3)))


model = Tiny()
with torch.no_grad():
    model.bn1.running_mean.uniform_(-0.5, 0.5)
    model.bn1.running_var.uniform_(0.5, 2.0)
    model.bn1.weight.uniform_(0.5, 1.5)
    model.bn1.bias.uniform_(-0.2, 0.2)
    model.bn1.num_batches_tracked.fill_(7)
model.eval()
sd = model.state_dict()

x = torch.rand(2, 3, 8, 8)
gray = torch.rand(2, 1, 8, 8)
with torch.no_grad():
    out = model(x)
    out_gray = model(gray.repeat(1, 3, 1, 1))  # a 1-channel stem with summed RGB weights must match this

# float16 checkpoint and the outputs of the model after the same rounding
sd16 = collections.OrderedDict((k, v.half() if v.is_floating_point() else v) for k, v in sd.items())
m16 = Tiny()
m16.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in sd16.items()})
m16.eval()
with torch.no_grad():
    out16 = m16(x)

torch.save(sd, os.path.join(OUT, 'tiny.pth'))
torch.save(sd16, os.path.join(OUT, 'tiny_f16.pth'))
torch.save(sd, os.path.join(OUT, 'tiny_legacy.pth'), _use_new_zipfile_serialization=False)

# non-contiguous tensors: a permuted view and a slice with a storage offset
nc = collections.OrderedDict(sd)
w = sd['conv1.weight']
nc['conv1.weight'] = w.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2)
assert not nc['conv1.weight'].is_contiguous()
big = torch.zeros(7, 8)
big[1:6] = sd['fc.weight']
nc['fc.weight'] = big[1:6]
assert nc['fc.weight'].storage_offset() == 8
tw = torch.zeros(8, 5)
tw.copy_(sd['fc.weight'].t())
nc['fc.weight'] = tw.t()  # transposed (column-major) view
big2 = torch.zeros(20)
big2[3:11] = sd['dw.bias']
nc['dw.bias'] = big2[3:11]
torch.save(nc, os.path.join(OUT, 'tiny_noncontig.pth'))

# a training checkpoint wrapping the state dict, with nn.Parameter values
wrapped = {'epoch': 3, 'state_dict': collections.OrderedDict(
    (k, nn.Parameter(v.clone()) if v.is_floating_point() else v) for k, v in sd.items())}
torch.save(wrapped, os.path.join(OUT, 'tiny_wrapped.pth'))


class Evil:
    def __reduce__(self):
        return (os.system, ('echo pwned',))


torch.save({'x': Evil()}, os.path.join(OUT, 'evil.pth'))
torch.save(model, os.path.join(OUT, 'tiny_module.pth'))  # whole module: must be refused

# safetensors written by hand (the format is an 8-byte header length, JSON header, raw data)
def write_safetensors(path, tensors, metadata=None):
    header = {}
    if metadata:
        header['__metadata__'] = metadata
    offset = 0
    blobs = []
    for k, v in tensors.items():
        v = v.contiguous()
        dt = {torch.float32: 'F32', torch.float16: 'F16', torch.int64: 'I64'}[v.dtype]
        b = v.numpy().tobytes()
        header[k] = {'dtype': dt, 'shape': list(v.shape), 'data_offsets': [offset, offset + len(b)]}
        offset += len(b)
        blobs.append(b)
    h = json.dumps(header).encode()
    h += b' ' * ((8 - (8 + len(h)) % 8) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


write_safetensors(os.path.join(OUT, 'tiny.safetensors'), sd, {'format': 'pt'})
write_safetensors(os.path.join(OUT, 'tiny_f16.safetensors'), sd16)

with open(os.path.join(OUT, 'tiny_ref.json'), 'w') as f:
    json.dump({
        'torch': torch.__version__,
        'inputShape': list(x.shape),
        'input': x.flatten().tolist(),
        'grayShape': list(gray.shape),
        'gray': gray.flatten().tolist(),
        'output': out.flatten().tolist(),
        'outputGray': out_gray.flatten().tolist(),
        'outputF16': out16.flatten().tolist(),
        'keys': list(sd.keys()),
        'shapes': {k: list(v.shape) for k, v in sd.items()},
    }, f)
print('wrote', sorted(os.listdir(OUT)))

# preprocessing reference: torchvision's ImageClassification on a uint8 tensor (tensor path, no antialias)
from torchvision.transforms._presets import ImageClassification  # noqa: E402
from torchvision.transforms import InterpolationMode  # noqa: E402

g = torch.Generator().manual_seed(7)
img = torch.randint(0, 256, (3, 37, 50), dtype=torch.uint8, generator=g)
pre = ImageClassification(crop_size=24, resize_size=29, interpolation=InterpolationMode.BILINEAR)
with torch.no_grad():
    y = pre(img)
with open(os.path.join(OUT, 'preprocess_ref.json'), 'w') as f:
    json.dump({'image': img.permute(1, 2, 0).flatten().tolist(), 'imageShape': [37, 50, 3],
               'spec': {'resizeSize': 29, 'cropSize': 24, 'interpolation': 'bilinear',
                        'mean': [0.485, 0.456, 0.406], 'std': [0.229, 0.224, 0.225]},
               'output': y.permute(1, 2, 0).flatten().tolist(), 'outputShape': [24, 24, 3]}, f)
