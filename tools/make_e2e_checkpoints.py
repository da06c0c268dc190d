#!/usr/bin/env python3
"""Writes torchvision state dicts (random init, randomized BatchNorm statistics) with a fixed input and
torch's logits, for the opt-in end-to-end test test/weights-e2e.test.ts (files are large: not committed).

Run: /usr/bin/python3 tools/make_e2e_checkpoints.py OUT_DIR resnet18 densenet121 ...
then: CHEXZOO_E2E_DIR=OUT_DIR npx vitest run test/weights-e2e.test.ts
DenseNet files are written with torchvision's old key names ('denselayer1.norm.1'), as the real checkpoints.
inception_v4 is timm's: it is built from a local timm checkout (TIMM_SRC, see tools/timm_ref.py).
"""
import os
import re
import sys

import torch
import torchvision
torch.manual_seed(0)
out = sys.argv[1]
os.makedirs(out, exist_ok=True)
archs = sys.argv[2:]
sys.path.insert(0, os.path.dirname(__file__))
sizes = {'inception_v3': 299, 'inception_v4': 299, 'efficientnet_b1': 240, 'efficientnet_b2': 288, 'efficientnet_b3': 300}
for a in archs:
    kw = {'aux_logits': True, 'init_weights': True} if a == 'inception_v3' else {}
    if a == 'inception_v4':
        from timm_ref import inception_v4
        m = inception_v4()
    else:
        m = getattr(torchvision.models, a)(weights=None, **kw)
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.running_mean.uniform_(-0.2, 0.2); mod.running_var.uniform_(0.5, 1.5)
                mod.weight.uniform_(0.5, 1.5); mod.bias.uniform_(-0.2, 0.2)
    m.eval()
    s = sizes.get(a, 224)
    x = torch.randn(1, 3, s, s)
    with torch.no_grad():
        y = m(x)
    sd = m.state_dict()
    if a.startswith('densenet'):
        # torchvision's real checkpoints use the old key names: write them that way
        sd = {re.sub(r'(denselayer\d+\.(?:norm|relu|conv))(\d)', r'\1.\2', k): v for k, v in sd.items()}
    torch.save(sd, f'{out}/{a}.pth')
    x.numpy().tofile(f'{out}/{a}.x.bin'); y.numpy().tofile(f'{out}/{a}.y.bin')
    print(a, s, tuple(y.shape), flush=True)
