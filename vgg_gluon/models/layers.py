"""Layers Gluon lacks: local response normalisation (configuration A-LRN)."""
from mxnet.gluon import nn


class LocalResponseNorm(nn.HybridBlock):
    """AlexNet's local response normalisation across channels.

    b[c] = a[c] / (k + alpha * sum_{c' within n/2 of c} a[c']**2) ** beta,
    with AlexNet's k=2, n=5, alpha=1e-4, beta=0.75 (Krizhevsky et al. 2012,
    sec. 3.3), which VGG's A-LRN uses. MXNet's ``LRN`` operator divides alpha by
    n (Caffe's convention), so it is handed ``alpha * n`` to compute AlexNet's
    formula. (batch, c, h, w) -> same shape; no parameters.
    """

    def __init__(self, k=2.0, n=5, alpha=1e-4, beta=0.75, **kwargs):
        super().__init__(**kwargs)
        if n < 1 or n % 2 == 0:
            raise ValueError(f"the LRN window n must be a positive odd integer, got {n!r}")
        self.k, self.n, self.alpha, self.beta = k, n, alpha, beta

    def hybrid_forward(self, F, x):
        return F.LRN(x, alpha=self.alpha * self.n, beta=self.beta, knorm=self.k, nsize=self.n)

    def __repr__(self):
        return f'{self.__class__.__name__}(k={self.k:g}, n={self.n}, alpha={self.alpha:g}, beta={self.beta:g})'
