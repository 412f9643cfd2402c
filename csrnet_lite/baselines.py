"""Baselines a learned retouch has to beat: doing nothing, and the best fixed global colour transform.

`ColourTransform` is the best single global colour map RGB -> RGB (a polynomial of the colour of
degree 1, 2 or 3) fitted by least squares on the training pairs: a retouch that adapts to each photo
has to beat it to earn its condition network. `evaluate.comparison` puts both in every table.

Introduced in notebook 05 (`05_training`), where every trained recipe is compared with them.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import torch

from .data import iter_pairs
from .image import check_image


def _exponents(degree: int) -> list[tuple[int, int, int]]:
    """All (i, j, k) with i + j + k <= degree: the monomials r^i g^j b^k by degree, constant first:
    1, r, g, b, r^2, rg, rb, g^2, gb, b^2, r^3, ..."""
    return [e for d in range(degree + 1)
            for e in sorted(itertools.product(range(d + 1), repeat=3), reverse=True) if sum(e) == d]


@dataclass(frozen=True)
class ColourTransform:
    """One global colour map: output_c = sum_m coefficients[m, c] * monomial_m(r, g, b).

    `degree` 1 is an affine map (4 monomials), 2 quadratic (10), 3 cubic (20).
    Call it like a model: transform(input (B, 3, H, W)) -> (B, 3, H, W), not clamped.
    """

    degree: int
    coefficients: torch.Tensor  # (monomials, 3), float64

    @staticmethod
    def features(x: torch.Tensor, degree: int) -> torch.Tensor:
        """Monomials of the colour: x (B, 3, H, W) -> (B, M, H, W) in float64."""
        x = x.double()
        r, g, b = x[:, 0], x[:, 1], x[:, 2]  # (B, 3, H, W) -> 3 x (B, H, W)
        return torch.stack([r ** i * g ** j * b ** k for i, j, k in _exponents(degree)], 1)  # -> (B, M, H, W)

    @classmethod
    def fit(cls, data, degree: int = 2, *, max_pixels: int = 200_000, ridge: float = 1e-9,
            seed: int = 0) -> "ColourTransform":
        """Least squares over the pixels of all pairs in `data` (`data.Pair`s or (input, target) tuples),
        every photo weighted equally; at most `max_pixels` random pixels per photo."""
        if degree not in (1, 2, 3):
            raise ValueError(f"degree must be 1, 2 or 3, got {degree}")
        gen = torch.Generator().manual_seed(seed)
        gram = cross = None
        count = 0
        for pair in iter_pairs(data):
            input, target = pair.input, pair.target
            f = cls.features(input, degree).flatten(2).transpose(1, 2).reshape(-1, len(_exponents(degree)))
            y = target.double().flatten(2).transpose(1, 2).reshape(-1, 3)  # (B, 3, H, W) -> (B*H*W, 3)
            if len(f) > max_pixels:
                idx = torch.randint(len(f), (max_pixels,), generator=gen)
                f, y = f[idx], y[idx]
            g, c = f.T @ f / len(f), f.T @ y / len(f)
            gram, cross = (g, c) if gram is None else (gram + g, cross + c)
            count += 1
        if not count:
            raise ValueError("ColourTransform.fit needs at least one (input, target) pair")
        gram, cross = gram / count, cross / count
        reg = ridge * gram.diagonal().mean() * torch.eye(len(gram), dtype=gram.dtype)
        return cls(degree, torch.linalg.solve(gram + reg, cross))

    def __call__(self, input: torch.Tensor) -> torch.Tensor:
        check_image(input, "input", check_range=False)
        f = self.features(input, self.degree)  # (B, M, H, W)
        out = torch.einsum("bmhw,mc->bchw", f, self.coefficients)  # (B, M, H, W) -> (B, 3, H, W)
        return out.float()

    def __str__(self) -> str:
        return f"{['', 'affine', 'quadratic', 'cubic'][self.degree]} colour transform"


def identity(input: torch.Tensor) -> torch.Tensor:
    """The 'do nothing' baseline: the input is the output."""
    return input
