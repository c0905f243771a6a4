"""Denoising autoencoders on scikit-learn's 8x8 digits: a Dense one and a convolutional one.

    python examples/denoising_autoencoder.py

Both see the images with Gaussian noise added (a GaussianNoise layer, active in training only)
and learn to reconstruct the clean image through a bottleneck (with an L1 activity penalty on the
code, a sparse code). On the held-out images, corrupted with the same noise, the script reports
the reconstruction's mean squared error against the clean image next to the noisy input's own
error: a denoiser must bring it well below the latter. Needs scikit-learn.
"""

from __future__ import annotations

import sys
import time

import convergent as cg
import numpy as np

NOISE = 0.3


def load_images(seed: int = 0):
    """Digits scaled to [0, 1] as float32 (n, 8, 8, 1); a stratified 75/25 split."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32).reshape(-1, 8, 8, 1)
    X_tr, X_te = train_test_split(X, test_size=0.25, random_state=seed, stratify=y)
    return X_tr, X_te


def dense_autoencoder(seed: int = 0) -> cg.nn.Sequential:
    nn = cg.nn
    return nn.Sequential(
        [
            nn.GaussianNoise(NOISE), nn.Flatten(),
            nn.Dense(64, 48, "relu", init="he_uniform"),
            nn.Dense(48, 16, "relu", init="he_uniform", activity_l1=1e-4),  # the code
            nn.Dense(16, 48, "relu", init="he_uniform"),
            nn.Dense(48, 64, "sigmoid"),
        ],
        seed=seed,
    )  # fmt: skip


def conv_autoencoder(seed: int = 0) -> cg.nn.Sequential:
    nn = cg.nn

    def conv(cin, cout, act, **kw):
        return nn.Conv2D(cin, cout, 3, padding="same", activation=act, **kw)

    return nn.Sequential(
        [
            nn.GaussianNoise(NOISE),
            conv(1, 16, "relu", init="he_uniform"), nn.MaxPool2D(2),  # 8x8 -> 4x4
            conv(16, 8, "relu", init="he_uniform", activity_l1=1e-4),  # the code: 4x4x8
            nn.UpSampling2D(2),  # 4x4 -> 8x8
            conv(8, 16, "relu", init="he_uniform"),
            conv(16, 1, "sigmoid"),
        ],
        seed=seed,
    )  # fmt: skip


def train(model, X_tr, target, epochs: int, lr: float = 3e-3):
    opt = cg.optim.Adam(model.parameters(), lr=lr)
    return cg.fit(model, cg.nn.MSELoss(), opt, X_tr, target, epochs=epochs, batch_size=32,
                  progress=False)  # fmt: skip


def evaluate(model, X_te, seed: int = 1) -> tuple[float, float]:
    """(MSE of the reconstruction of noisy test images vs the clean ones, MSE of the noisy
    images themselves vs the clean ones)."""
    rng = np.random.default_rng(seed)
    noisy = (X_te + NOISE * rng.standard_normal(X_te.shape)).astype(np.float32)
    recon = model.forward(noisy, training=False).reshape(X_te.shape)
    return float(np.mean((recon - X_te) ** 2)), float(np.mean((noisy - X_te) ** 2))


def main(argv: list[str]) -> dict[str, tuple[float, float]]:
    epochs = int(argv[1]) if len(argv) > 1 else 30
    X_tr, X_te = load_images()
    results = {}
    for name, model, target in (
        ("dense", dense_autoencoder(), X_tr.reshape(len(X_tr), 64)),
        ("conv", conv_autoencoder(), X_tr),
    ):
        t0 = time.perf_counter()
        train(model, X_tr, target, epochs)
        results[name] = evaluate(model, X_te)
        recon, noisy = results[name]
        print(f"{name:>5} autoencoder: reconstruction MSE {recon:.4f} on noisy test images "
              f"(the noisy inputs' own MSE {noisy:.4f}; {noisy / recon:.1f}x lower) "
              f"in {time.perf_counter() - t0:.1f} s")  # fmt: skip
    return results


if __name__ == "__main__":
    main(sys.argv)
