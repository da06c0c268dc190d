#!/usr/bin/python3
"""Reference values for test/metrics.test.ts from scikit-learn and scipy.

Run with Debian's interpreter (python3-sklearn, python3-scipy, python3-numpy):
    /usr/bin/python3 tools/make_metrics_fixtures.py
Writes JSON files into test/fixtures/metrics/. NaN is written as null.
"""
import json
import math
import os
import sys
import tempfile

import numpy as np
import scipy
import scipy.stats
import sklearn
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score, roc_curve

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures', 'metrics')


def clean(v):
    """JSON-safe copy: numpy -> python, NaN -> None."""
    if isinstance(v, dict):
        return {k: clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [clean(x) for x in v]
    if isinstance(v, np.ndarray):
        return clean(v.tolist())
    if isinstance(v, (np.floating, float)):
        f = float(v)
        if math.isnan(f):
            return None
        if math.isinf(f):
            return 'Infinity' if f > 0 else '-Infinity'
        return f
    if isinstance(v, (np.integer,)):
        return int(v)
    return v


def write(name, payload):
    os.makedirs(OUT, exist_ok=True)
    payload = {
        'generator': 'tools/make_metrics_fixtures.py',
        'versions': {'sklearn': sklearn.__version__, 'scipy': scipy.__version__, 'numpy': np.__version__},
        **payload,
    }
    fd, tmp = tempfile.mkstemp(dir=OUT, suffix='.tmp')
    with os.fdopen(fd, 'w') as f:
        json.dump(clean(payload), f, allow_nan=False, separators=(',', ':'))
    os.chmod(tmp, 0o644)  # mkstemp creates 0600
    os.replace(tmp, os.path.join(OUT, name))
    print('wrote', name, os.path.getsize(os.path.join(OUT, name)), 'bytes')


def binary_cases(rs):
    cases = []

    def add(name, y, s, mask=None):
        y = np.asarray(y, dtype=np.int64)
        s = np.asarray(s, dtype=np.float64)
        if mask is None:
            yu, su = y, s
            y_out = y.tolist()
        else:
            mask = np.asarray(mask, dtype=bool)
            yu, su = y[mask], s[mask]
            # masked-out entries get placeholder labels that would be invalid if they were read
            y_out = np.where(mask, y, -1).tolist()
        case = {'name': name, 'labels': y_out, 'scores': s.tolist()}
        if mask is not None:
            case['mask'] = mask.astype(int).tolist()
        two_classes = len(np.unique(yu)) == 2
        case['auroc'] = float(roc_auc_score(yu, su)) if two_classes else float('nan')
        case['ap'] = float(average_precision_score(yu, su)) if yu.sum() > 0 else float('nan')
        if two_classes and len(yu) <= 300:
            fpr, tpr, thr = roc_curve(yu, su, drop_intermediate=False)
            case['roc'] = {'fpr': fpr[1:], 'tpr': tpr[1:], 'thresholds': thr[1:]}
            p, r, t = precision_recall_curve(yu, su)
            case['pr'] = {'precision': p, 'recall': r, 'thresholds': t}
        cases.append(case)

    for n in (20, 200, 2000):
        y = rs.randint(0, 2, n)
        add(f'random n={n}', y, rs.randn(n) + 0.8 * y)
    for n, dec in ((60, 1), (300, 1), (500, 2)):
        y = rs.randint(0, 2, n)
        add(f'rounded to {dec} decimals n={n}', y, np.round(rs.rand(n) * 0.7 + 0.3 * y, dec))
    y = rs.randint(0, 2, 100)
    add('two score levels', y, (rs.rand(100) < 0.3 + 0.4 * y).astype(float))
    y = rs.randint(0, 2, 80)
    add('three score levels', y, rs.choice([0.0, 0.5, 1.0], 80))
    add('all scores tied', [0, 1, 0, 1, 1], [0.3] * 5)
    add('all tied but one', [0, 1, 0, 1, 1, 0], [0.3, 0.3, 0.3, 0.3, 0.9, 0.3])
    add('n=2', [0, 1], [0.2, 0.7])
    add('n=2 inverted', [1, 0], [0.2, 0.7])
    add('n=3 tie', [0, 1, 1], [0.5, 0.5, 0.9])
    y = np.zeros(500, dtype=int)
    y[rs.randint(0, 500)] = 1
    add('one positive in 500', y, rs.rand(500))
    y = np.ones(400, dtype=int)
    y[rs.choice(400, 3, replace=False)] = 0
    add('three negatives in 400', y, np.round(rs.rand(400), 2))
    y = rs.randint(0, 2, 50)
    add('perfect', y, y * 2.0 + rs.rand(50))
    add('inverted', y, -(y * 2.0 + rs.rand(50)))
    y = rs.randint(0, 2, 120)
    s = np.round(rs.rand(120) + 0.2 * y, 1)
    add('masked (U-Ignore)', y, s, mask=rs.rand(120) > 0.25)
    add('single class (undefined AUROC)', [1, 1, 1], [0.1, 0.5, 0.2])
    add('only negatives', [0, 0, 0, 0], [0.1, 0.5, 0.2, 0.2])
    return cases


def per_task_case(rs):
    n, tasks = 150, ['Atelectasis', 'Cardiomegaly', 'Consolidation', 'Edema', 'Pleural Effusion']
    y = (rs.rand(n, len(tasks)) < [0.3, 0.2, 0.1, 0.25, 0.35]).astype(int)
    y[:, 2] = 0  # a task with no positive case
    s = np.round(rs.rand(n, len(tasks)) + 0.4 * y, 2)
    mask = rs.rand(n, len(tasks)) > 0.1
    labels = np.where(mask, y, -1)
    per = {}
    for j, t in enumerate(tasks):
        yu, su = y[mask[:, j], j], s[mask[:, j], j]
        per[t] = float(roc_auc_score(yu, su)) if len(np.unique(yu)) == 2 else float('nan')
    defined = [v for v in per.values() if not math.isnan(v)]
    return {
        'tasks': tasks, 'labels': labels, 'scores': s, 'mask': mask.astype(int),
        'perTask': per, 'meanAuroc': float(np.mean(defined)),
        'undefinedTasks': [t for t in tasks if math.isnan(per[t])],
    }


def kendall_method(x, y):
    """scipy 1.10's method='auto' rule for kendalltau."""
    n = len(x)
    no_ties = len(np.unique(x)) == n and len(np.unique(y)) == n
    if not no_ties:
        return 'asymptotic'
    dis = sum(1 for i in range(n) for j in range(i + 1, n) if (x[i] - x[j]) * (y[i] - y[j]) < 0)
    tot = n * (n - 1) // 2
    return 'exact' if (n <= 33 or min(dis, tot - dis) <= 1) else 'asymptotic'


def correlation_cases(rs):
    cases = []

    def add(name, x, y):
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        sp = scipy.stats.spearmanr(x, y)
        kt = scipy.stats.kendalltau(x, y)
        cases.append({
            'name': name, 'x': x, 'y': y,
            'rho': float(sp.correlation), 'spearmanP': float(sp.pvalue),
            'tau': float(kt.correlation), 'kendallP': float(kt.pvalue),
            'kendallMethod': kendall_method(x, y),
        })

    for n in (5, 12, 30, 33):
        x = rs.randn(n)
        add(f'continuous n={n}', x, x + rs.randn(n))
    for n in (34, 60, 200):
        x = rs.randn(n)
        add(f'continuous n={n} (asymptotic kendall)', x, 0.3 * x + rs.randn(n))
    for n, levels in ((10, 3), (25, 4), (80, 5), (300, 6)):
        x = rs.randint(0, levels, n).astype(float)
        add(f'ties in both n={n} levels={levels}', x, np.round(x / levels + rs.rand(n), 1))
    x = rs.randn(40)
    add('ties in y only', x, np.round(x + rs.randn(40)))
    x = np.arange(50.0)
    y = x.copy()
    y[[10, 11]] = y[[11, 10]]
    add('n=50 one swap (exact kendall, large n)', x, y)
    add('n=40 reversed (exact kendall, c=0)', np.arange(40.0), -np.arange(40.0))
    add('perfect monotone n=8', np.arange(8.0), np.arange(8.0) ** 3)
    add('anti monotone n=8', np.arange(8.0), -np.exp(np.arange(8.0)))
    add('n=3', [1.0, 2.0, 3.0], [1.0, 3.0, 2.0])
    add('n=4 exactly balanced', [1.0, 2.0, 3.0, 4.0], [2.0, 4.0, 1.0, 3.0])
    add('model-level n=16 (top-1 vs mean AUROC style)', rs.rand(16) * 10 + 70, np.round(rs.rand(16) * 0.05 + 0.85, 3))
    return cases


def main():
    rs = np.random.RandomState(20210118)
    write('binary.json', {'cases': binary_cases(rs)})
    write('per_task.json', per_task_case(rs))
    write('correlation.json', {'cases': correlation_cases(rs)})


if __name__ == '__main__':
    sys.exit(main())
