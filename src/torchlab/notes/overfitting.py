"""Under- and over-fitting (过拟合和欠拟合): polynomials of growing degree fitted to 15 noisy samples.

Training error falls with every degree. Validation error is high at degrees 1 and 2 (they underfit:
too simple for a sine), lowest at a middle degree (5 here), and explodes from degree 10, where the
polynomial chases the noise between the samples.

The notes' remark, "a Taylor expansion is function fitting, so a polynomial can fit any function",
needs putting right: a Taylor polynomial matches a function's derivatives at one point and only
approximates it near that point (for 1/(1+x²) it diverges beyond |x| = 1 however high its degree);
that polynomials approximate any continuous function on a closed interval is Weierstrass's theorem,
reached by fitting over the whole interval (least squares, Chebyshev), not by Taylor's series. And
fitting noisy samples exactly, as the picture shows, is overfitting.
"""

import numpy as np

from torchlab.notes import picture, show

ORDER = 175
BLOCKS = ()
DEGREES = list(range(1, 13))


def samples(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = np.sort(rng.uniform(-1, 1, n))
    return x, np.sin(np.pi * x) + rng.normal(0, 0.2, n)


def errors(degrees: list[int] = DEGREES) -> dict[str, list[float]]:
    """Mean squared error on the 15 training samples and on 200 fresh ones, per polynomial degree."""
    x, y = samples(15, 0)
    vx, vy = samples(200, 1)
    train, val = [], []
    for d in degrees:
        fit = np.polynomial.Polynomial.fit(x, y, d)
        train.append(float(np.mean((fit(x) - y) ** 2)))
        val.append(float(np.mean((fit(vx) - vy) ** 2)))
    return {"train": train, "val": val}


def taylor_vs_fit(degree: int = 20, x: float = 2.0) -> dict[str, float]:
    """|error| at `x` of 1/(1+t²)'s Taylor polynomial at 0, and of a least-squares fit over [-3, 3]."""
    taylor = sum((-1) ** k * x ** (2 * k) for k in range(degree // 2 + 1))  # 1 - t² + t⁴ - ...
    grid = np.linspace(-3, 3, 400)
    fit = np.polynomial.Chebyshev.fit(grid, 1 / (1 + grid**2), degree)
    truth = 1 / (1 + x**2)
    return {"taylor": abs(taylor - truth), "least squares": abs(float(fit(x)) - truth)}


def draw(result: dict[str, list[float]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x, y = samples(15, 0)
    grid = np.linspace(-1, 1, 300)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    left.scatter(x, y, c="black", label="15 noisy samples")
    left.plot(grid, np.sin(np.pi * grid), "k--", label="sin(πx)")
    for d, style in ((1, "tab:blue"), (4, "tab:green"), (12, "tab:red")):
        left.plot(grid, np.polynomial.Polynomial.fit(x, y, d)(grid), color=style, label=f"degree {d}")
    left.set_ylim(-2, 2)
    left.legend(fontsize=8)
    left.set_title("under-fit, fit, over-fit")
    right.semilogy(DEGREES, result["train"], "o-", label="training error")
    right.semilogy(DEGREES, result["val"], "o-", label="validation error")
    right.set_xlabel("polynomial degree")
    right.set_ylabel("mean squared error")
    right.legend()
    fig.tight_layout()
    fig.savefig(picture("overfitting.png"), dpi=80)
    plt.close(fig)


def main() -> None:
    result = errors()
    for d, tr, va in zip(DEGREES, result["train"], result["val"], strict=True):
        show(f"degree {d:2d}: train / validation MSE", f"{tr:.4f} / {va:.4f}")
    best = DEGREES[int(np.argmin(result["val"]))]
    show("degree with the lowest validation error", best)
    show("1/(1+x²) at x=2, degree 20: |Taylor error|, |least-squares error|", taylor_vs_fit())
    draw(result)
