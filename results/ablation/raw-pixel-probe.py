# The floor under the ablation's probes: the same linear probe on raw pixels instead of encoder
# features (first 10,000 training images, per-feature standardisation, mean softmax cross-entropy
# + L2/2·|W|², L-BFGS from zeros, L2 from 1e-6…1e-1 chosen on a seeded 1/12 held out, refit on all,
# tested on the 10,000 test images). Run: python3 results/ablation/raw-pixel-probe.py
import gzip
import numpy as np
from scipy.optimize import minimize

D = '/usr/share/datasets/fashion-mnist/'
def images(f, n): return np.frombuffer(gzip.open(D + f).read()[16:], np.uint8).reshape(-1, 784)[:n] / 255.0
def labels(f, n): return np.frombuffer(gzip.open(D + f).read()[8:], np.uint8)[:n].astype(int)
xtr, ytr = images('train-images-idx3-ubyte.gz', 10000), labels('train-labels-idx1-ubyte.gz', 10000)
xte, yte = images('t10k-images-idx3-ubyte.gz', 10000), labels('t10k-labels-idx1-ubyte.gz', 10000)

def fit(x, y, l2):
    mu, sd = x.mean(0), x.std(0); sd[sd == 0] = 1
    z = (x - mu) / sd; n, d = z.shape; onehot = np.eye(10)[y]
    def f(p):
        w, b = p[:d * 10].reshape(d, 10), p[d * 10:]
        s = z @ w + b; s -= s.max(1, keepdims=True)
        lse = np.log(np.exp(s).sum(1)); pr = np.exp(s - lse[:, None])
        loss = (lse - (s * onehot).sum(1)).mean() + l2 / 2 * (w * w).sum()
        g = (pr - onehot) / n
        return loss, np.concatenate([(z.T @ g + l2 * w).ravel(), g.sum(0)])
    p = minimize(f, np.zeros(d * 10 + 10), jac=True, method='L-BFGS-B', options={'maxiter': 1000}).x
    w, b = p[:d * 10].reshape(d, 10), p[d * 10:]
    return lambda xq: (((xq - mu) / sd) @ w + b).argmax(1)

rng = np.random.default_rng(0); val = rng.permutation(10000)[:834]; fitm = np.ones(10000, bool); fitm[val] = False
scores = {l2: (fit(xtr[fitm], ytr[fitm], l2)(xtr[val]) == ytr[val]).mean() for l2 in [1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1]}
best = max(scores, key=scores.get)
print('validation accuracy by L2:', {k: round(v, 4) for k, v in scores.items()})
print(f'L2 {best}: test accuracy on raw pixels {(fit(xtr, ytr, best)(xte) == yte).mean():.4f}')
