#!/usr/bin/python3
"""Writes torchxrayvision checkpoints made by torchxrayvision's own classes, and the logits they give.

    /usr/bin/python3 tools/make_xrv_fixtures.py --xrv-src /path/to/torchxrayvision-checkout --out DIR [--full]

--xrv-src is a checkout of https://github.com/mlmed/torchxrayvision (the directory holding the
`torchxrayvision` package); it is put on sys.path at run time and never copied into this repository.
Constructing a model with `weights=` would download from GitHub, so the models are built with
`weights=None` and filled with seeded random weights (torch.manual_seed), then saved whole with
`torch.save(model)` exactly as torchxrayvision's release files are: once in the zip format and once in the
legacy format (`_use_new_zipfile_serialization=False`: the pre-1.6 format, which files saved by older torch use).

Default (committed under test/fixtures/xrv/, ~620 KB): a reduced torchxrayvision DenseNet (growth_rate 8,
block_config (1, 2, 2, 1), 16 initial features, 1 channel, 18 outputs; 64 px) saved whole in both formats with its
pathologies and op_threshs, its input, a 600 x 520 grey radiograph PNG with torchxrayvision's preprocessing of it
(normalize, XRayCenterCrop, XRayResizer(224)), and the demo's path (that radiograph at 64 px through the model).
--full writes real sizes into DIR, for tests that make them at run time (test/xrv-full.test.ts under FULL_TESTS,
test/browser/xrv.ts; never committed: ~28 MB each format and ~95 MB): a whole DenseNet-121 (224 px) and the
ResNet-50 state dict torchxrayvision's ResNet loads (512 px; torchvision's resnet50 with a 1-channel conv1). Without --xrv-src (CI has no
torchxrayvision checkout), --full uses a stand-in: torchvision's densenet121 with torchxrayvision's changes.

Also writes xrv_ref.json: the input (NCHW, already in [-1024, 1024]), the logits of torchxrayvision's
forward with op_threshs unset, the calibrated outputs of its forward with op_threshs set (sigmoid + op_norm),
the pathologies, and the globals each file's pickle references (pickletools).
"""
import argparse
import io
import json
import math
import os
import pickletools
import sys
import zipfile


def pickle_globals(path):
    """Every module.name the pickle of a torch.save file references (for the docs and the allow-list)."""
    with open(path, 'rb') as f:
        data = f.read()
    streams = []
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as z:
            streams = [z.read(n) for n in z.namelist() if n.endswith('data.pkl')]
    else:
        buf = io.BytesIO(data)
        for _ in range(5):  # magic, protocol, sys_info, root, storage keys
            start = buf.tell()
            pickletools.dis(buf, out=io.StringIO())
            streams.append(data[start:buf.tell()])
    names = set()
    for s in streams:
        strings = []
        for op, arg, _ in pickletools.genops(s):
            if op.name == 'GLOBAL':
                names.add(arg.replace(' ', '.'))
            elif op.name in ('SHORT_BINUNICODE', 'BINUNICODE', 'UNICODE'):
                strings.append(arg)
            elif op.name == 'STACK_GLOBAL':
                names.add(strings[-2] + '.' + strings[-1])
    return sorted(names)


def fill(model, seed):
    """Seeded random weights; BatchNorm statistics too, so that eval-mode BatchNorm is not the identity."""
    import torch
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            fan = p[0].numel() if p.dim() > 1 else 1
            p.copy_(torch.randn(p.shape, generator=g) / math.sqrt(fan))
            if '.norm' in name and name.endswith('weight') or '.bn' in name and name.endswith('weight'):
                p.copy_(0.5 + torch.rand(p.shape, generator=g))
            if name.startswith('classifier.') or name.startswith('fc.'):
                p.mul_(0.1)  # logits of a few units, so the calibrated outputs are not all 0 or 1
        for name, b in model.named_buffers():
            if name.endswith('running_mean'):
                b.copy_(0.1 * torch.randn(b.shape, generator=g))
            elif name.endswith('running_var'):
                b.copy_(0.5 + torch.rand(b.shape, generator=g))


def save_both(model, out, stem):
    """torch.save(model) in both formats. The legacy format embeds each module class's source text; it is
    blanked (as torch does when the source cannot be read) so no torchxrayvision or torch code is committed."""
    import torch
    import torch.serialization as ser
    def no_source(obj):
        raise OSError('source not recorded by make_xrv_fixtures.py')
    ser.get_source_lines_and_file = no_source
    import warnings
    paths = {}
    for fmt, zipped in (('zip', True), ('legacy', False)):
        p = os.path.join(out, f'{stem}_{fmt}.pt')
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')  # "Couldn't retrieve source code for container": intended
            torch.save(model, p, _use_new_zipfile_serialization=zipped)
        paths[fmt] = p
    return paths


def radiograph(size, seed):
    """A grey test input already scaled to [-1024, 1024] (torchxrayvision's normalize range)."""
    import torch
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, size), torch.linspace(-1, 1, size), indexing='ij')
    lungs = torch.exp(-((xx.abs() - 0.45) ** 2 / 0.05 + yy ** 2 / 0.4))
    x = 1024 * (0.8 * lungs - 0.4 + 0.1 * torch.randn(size, size, generator=g)).clamp(-1, 1)
    return x[None, None]


def run_reference(model, x, op_threshs):
    import torch
    model.eval()
    with torch.no_grad():
        model.op_threshs = None
        logits = model(x)
        model.op_threshs = torch.tensor(op_threshs, dtype=torch.float32)
        calibrated = model(x)
        model.op_threshs = None
    return logits, calibrated


def preprocess_fixture(xrv, out):
    """A grey 8-bit radiograph-like PNG (600 x 520, non-square so the centre crop matters) and torchxrayvision's
    preprocessing of it: normalize(img, 255), then XRayCenterCrop() and XRayResizer(224) (skimage engine)."""
    import numpy as np
    from PIL import Image
    import torchvision
    h, w = 600, 520
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    yy, xx = yy / h * 2 - 1, xx / w * 2 - 1
    lungs = np.exp(-((np.abs(xx) - 0.42) ** 2 / 0.04 + (yy + 0.05) ** 2 / 0.35))
    ribs = 0.12 * (np.sin(yy * 40 + np.abs(xx) * 6) > 0.6) * (np.abs(xx) < 0.8)
    spine = 0.5 * np.exp(-xx ** 2 / 0.004)
    rng = np.random.default_rng(5)
    img = 200 - 150 * lungs + 60 * ribs + 40 * spine + rng.normal(0, 3, (h, w))
    img[20:60, 30:90] = 255  # a burnt-in marker: sharp edges
    img = np.clip(np.round(img), 0, 255).astype(np.uint8)
    Image.fromarray(img, mode='L').save(os.path.join(out, 'xrv_radiograph.png'), optimize=True)
    x = xrv.datasets.normalize(np.asarray(Image.open(os.path.join(out, 'xrv_radiograph.png'))), 255)[None, ...]
    tf = torchvision.transforms.Compose([xrv.datasets.XRayCenterCrop(), xrv.datasets.XRayResizer(224)])
    y = tf(x)
    assert y.shape == (1, 224, 224) and y.dtype == np.float32
    with open(os.path.join(out, 'xrv_radiograph_224.bin'), 'wb') as f:
        f.write(y.astype('<f4').tobytes())
    return {'image': 'xrv_radiograph.png', 'shape': [h, w], 'output': 'xrv_radiograph_224.bin', 'size': 224,
            'steps': 'xrv.datasets.normalize(img, 255); XRayCenterCrop(); XRayResizer(224)'}


def resnet50_state(out):
    """torchxrayvision's ResNet-50 release file: the state dict of a torchvision resnet50 with 18 outputs and a
    1-channel conv1 (its ResNet class builds exactly that and load_state_dict()s the file); torchvision only."""
    import torch
    import torchvision
    res = torchvision.models.resnet50(num_classes=18)
    res.conv1 = torch.nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3, bias=False)
    fill(res, 3)
    xr = radiograph(512, 4)
    res.eval()
    with torch.no_grad():
        rl = res(xr)
    p = os.path.join(out, 'xrv_resnet50_state.pt')
    torch.save(res.state_dict(), p)
    with open(os.path.join(out, 'xrv_resnet50_input.bin'), 'wb') as f:
        f.write(xr.numpy().astype('<f4').tobytes())
    return {'input_shape': list(xr.shape), 'input_file': 'xrv_resnet50_input.bin', 'logits': rl.flatten().tolist(), 'files': {'zip': os.path.basename(p)}}


def full_stand_in(out):
    """--full without torchxrayvision's source (CI): torchvision's densenet121 with torchxrayvision's changes
    (18 outputs, 1-channel conv0), saved whole; its forward is torchxrayvision's DenseNet forward without
    op_threshs (features, ReLU, global average pool, classifier)."""
    import torch
    import torchvision
    dense = torchvision.models.densenet121(num_classes=18)
    dense.features.conv0 = torch.nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3, bias=False)
    fill(dense, 1)
    x = radiograph(224, 2)
    dense.eval()
    with torch.no_grad():
        logits = dense(x)
    paths = save_both(dense, out, 'xrv_densenet121')
    with open(os.path.join(out, 'xrv_densenet121_input.bin'), 'wb') as f:
        f.write(x.numpy().astype('<f4').tobytes())
    ref = {'source': 'torchvision stand-in (no --xrv-src)', 'models': {'xrv_densenet121': {
        'input_shape': list(x.shape), 'input_file': 'xrv_densenet121_input.bin', 'logits': logits.flatten().tolist(),
        'files': {k: os.path.basename(v) for k, v in paths.items()}}, 'xrv_resnet50': resnet50_state(out)}}
    with open(os.path.join(out, 'xrv_ref.json'), 'w') as f:
        json.dump(ref, f, indent=1)
    print('wrote', out, '(torchvision stand-in)')


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--xrv-src', help='checkout of torchxrayvision (the directory holding the torchxrayvision package); '
                    'without it (--full only) a stand-in is used: torchvision densenet121 (18 classes, 1-channel conv0), '
                    'the same computation, saved whole as torchvision.models.densenet.DenseNet')
    ap.add_argument('--out', required=True)
    ap.add_argument('--full', action='store_true', help='real-size DenseNet-121 (224 px) and ResNet-50 (512 px)')
    args = ap.parse_args()
    import torch
    torch.manual_seed(0)
    os.makedirs(args.out, exist_ok=True)
    if not args.xrv_src:
        if not args.full:
            ap.error('--xrv-src is required for the committed fixtures (only --full has a torchvision stand-in)')
        return full_stand_in(args.out)
    sys.path.insert(0, os.path.abspath(args.xrv_src))
    import torchxrayvision as xrv
    all_w = xrv.models.model_urls['densenet121-res224-all']
    op = [float(v) for v in all_w['op_threshs']]
    # an operating point per output; NaN where the weights have none (torchxrayvision keeps 0.5 there)
    op[14] = float('nan')
    nan = lambda v: None if isinstance(v, float) and math.isnan(v) else float(v)
    # the published weights as torchxrayvision's source lists them: the registry test compares weights/manifest.json to this
    published = {k: {'url': u['weights_url'], 'labels': u['labels'], 'op_threshs': [nan(v) for v in u['op_threshs']], 'input_resolution': u['input_resolution']}
                 for k, u in xrv.models.model_urls.items() if k.startswith(('densenet121-', 'resnet50-'))}
    ref = {'source': 'torchxrayvision ' + xrv.__version__, 'model_urls': published, 'pathologies': list(all_w['labels']), 'op_threshs': [None if math.isnan(v) else v for v in op], 'models': {}}

    ref['preprocess'] = preprocess_fixture(xrv, args.out)
    if args.full:
        dense = xrv.models.DenseNet(weights=None)  # densenet121: growth 32, blocks (6, 12, 24, 16), 64 features
        size = 224
        stem = 'xrv_densenet121'
    else:
        dense = xrv.models.DenseNet(weights=None, growth_rate=8, block_config=(1, 2, 2, 1), num_init_features=16)
        size = 64
        stem = 'xrv_tiny_densenet'
    fill(dense, 1)
    dense.pathologies = list(all_w['labels'])  # as a loaded torchxrayvision model carries them
    dense.targets = dense.pathologies
    x = radiograph(size, 2)
    logits, calibrated = run_reference(dense, x, op)
    if not args.full:
        # the demo's path end to end: the radiograph through torchxrayvision's preprocessing at the model's 64 px,
        # then its forward with operating points (sigmoid + op_norm), what examples/browser/xrv.ts shows
        import numpy as np
        from PIL import Image
        import torchvision
        img = xrv.datasets.normalize(np.asarray(Image.open(os.path.join(args.out, 'xrv_radiograph.png'))), 255)[None, ...]
        x64 = torchvision.transforms.Compose([xrv.datasets.XRayCenterCrop(), xrv.datasets.XRayResizer(64)])(img)
        _, demo = run_reference(dense, torch.from_numpy(x64)[None], op)
        ref['demo'] = {'image': 'xrv_radiograph.png', 'size': 64, 'calibrated': demo.flatten().tolist()}
    # saved with its operating points as a buffer, as a loaded torchxrayvision model carries them
    dense.op_threshs = torch.tensor(op, dtype=torch.float32)
    keys = list(dense.state_dict().keys())
    paths = save_both(dense, args.out, stem)
    with open(os.path.join(args.out, f'{stem}_input.bin'), 'wb') as f:
        f.write(x.numpy().astype('<f4').tobytes())  # NCHW float32 little-endian
    ref['models'][stem] = {
        'arch': 'xrv.models.DenseNet', 'growth_rate': dense.features.denseblock1.denselayer1.conv2.out_channels,
        'block_config': [len(getattr(dense.features, f'denseblock{i}')) for i in range(1, 5)],
        'num_init_features': dense.features.conv0.out_channels, 'input_shape': list(x.shape),
        'input_file': f'{stem}_input.bin',
        'logits': logits.flatten().tolist(), 'calibrated': calibrated.flatten().tolist(), 'state_dict_keys': keys,
        'files': {k: os.path.basename(v) for k, v in paths.items()},
        'globals': {k: pickle_globals(v) for k, v in paths.items()},
    }
    if args.full:
        ref['models']['xrv_resnet50'] = resnet50_state(args.out)
    with open(os.path.join(args.out, 'xrv_ref.json'), 'w') as f:
        json.dump(ref, f, indent=1)
        f.write('\n')
    print('wrote', args.out, {k: os.path.getsize(v) for k, v in paths.items()})


if __name__ == '__main__':
    main()
