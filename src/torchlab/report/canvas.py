"""Pictures without axes, drawn with Pillow: a titled grid of images (misclassified test images,
reconstructions, samples) and a labelled heat map (a confusion matrix).

matplotlib measures and lays out every text of a figure before drawing it, about 0.1 s a figure
on a 2-core host: most of a classifier's pictures after training. These pictures need pixels and a
few labels only. Their text is matplotlib's own DejaVu Sans, so they match the plotted figures.
"""

import importlib.util
import math
from functools import cache
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

Colour = tuple[int, int, int]
WHITE, BLACK, RED = (255, 255, 255), (0, 0, 0), (214, 39, 40)  # RED: matplotlib's tab:red
# ColorBrewer's nine Blues, light to dark: matplotlib's "Blues" colour map runs through them.
BLUES = np.array(
    [(247, 251, 255), (222, 235, 247), (198, 219, 239), (158, 202, 225), (107, 174, 214),
     (66, 146, 198), (33, 113, 181), (8, 81, 156), (8, 48, 107)], dtype=float
)  # fmt: skip
PAD = 8  # pixels around and between the parts of a picture


@cache
def font(size: int) -> ImageFont.FreeTypeFont:
    """DejaVu Sans at `size` pixels, from matplotlib's data (found without importing matplotlib)."""
    spec = importlib.util.find_spec("matplotlib")
    assert spec is not None and spec.origin is not None  # a dependency of torchlab
    return ImageFont.truetype(str(Path(spec.origin).parent / "mpl-data" / "fonts" / "ttf" / "DejaVuSans.ttf"), size)


def text_width(text: str, size: int) -> float:
    return max(font(size).getlength(line) for line in text.split("\n"))


def clipped(text: str, width: float, size: int) -> str:
    """`text`, cut with an ellipsis to fit `width` pixels."""
    while text_width(text, size) > width and len(text) > 1:
        text = text[:-2] + "…"
    return text


def wrapped(text: str, width: float, size: int) -> list[str]:
    """`text` in lines of whole words that fit `width` pixels (a longer word keeps a line of its own)."""
    lines: list[str] = []
    for word in text.split():
        if lines and text_width(f"{lines[-1]} {word}", size) <= width:
            lines[-1] += f" {word}"
        else:
            lines.append(word)
    return lines or [""]


def blues(shares: np.ndarray) -> np.ndarray:
    """Shares in [0, 1] as RGB, light to dark blue: [..., 3] uint8."""
    at = np.clip(shares, 0, 1) * (len(BLUES) - 1)
    channels = [np.interp(at, np.arange(len(BLUES)), BLUES[:, c]) for c in range(3)]
    return np.stack(channels, -1).round().astype(np.uint8)


def tiles(images: torch.Tensor, side: int) -> list[Image.Image]:
    """`[N, C, H, W]` pixels in [0, 1] as Pillow images `side` pixels wide: enlarged by whole pixels
    (a 28-pixel digit stays sharp), shrunk smoothly."""
    pixels = (images.detach().float().cpu().clamp(0, 1) * 255).round().to(torch.uint8)
    pixels = pixels.permute(0, 2, 3, 1).numpy()
    result = []
    for array in pixels:
        image = Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array).convert("RGB")
        height = round(side * image.height / image.width)
        smaller = side < image.width
        result.append(image.resize((side, height), Image.Resampling.LANCZOS if smaller else Image.Resampling.NEAREST))
    return result


def title_band(title: str, width: int, size: int = 14) -> tuple[list[str], int]:
    """The title's lines for a picture `width` pixels wide, and the band's height."""
    lines = wrapped(title, width - 2 * PAD, size)
    return lines, PAD + len(lines) * round(size * 1.25)


def draw_title(draw: ImageDraw.ImageDraw, lines: list[str], width: int, size: int = 14) -> None:
    for i, line in enumerate(lines):
        draw.text((width / 2, PAD + i * round(size * 1.25)), line, fill=BLACK, font=font(size), anchor="ma")


def image_grid(
    images: torch.Tensor,
    columns: int,
    title: str,
    side: int,
    labels: list[str] | None = None,
    empty: str = "no images",
) -> Image.Image:
    """Images `side` pixels wide, `columns` to a row, under a title; each with its label above it
    (red, centred, lines cut to the tile's width) when `labels` are given."""
    label_size, gap = 12, max(2, side // 16)
    label_lines = max((label.count("\n") + 1 for label in labels or []), default=0)
    above = label_lines * round(label_size * 1.2) + (gap if labels else 0)
    pictures = tiles(images, side)
    height = max((p.height for p in pictures), default=side)
    rows = max(1, math.ceil(len(pictures) / columns))
    width = max(gap + columns * (side + gap), 2 * PAD + 320)  # room for the title of a narrow grid
    lines, top = title_band(title, width)
    canvas = Image.new("RGB", (width, top + PAD + rows * (above + height + gap)), WHITE)
    draw = ImageDraw.Draw(canvas)
    draw_title(draw, lines, width)
    left0 = (width - (gap + columns * (side + gap))) // 2 + gap
    for i, picture in enumerate(pictures):
        row, column = divmod(i, columns)
        left, y = left0 + column * (side + gap), top + PAD + row * (above + height + gap)
        canvas.paste(picture, (left, y + above))
        if labels:
            text = "\n".join(clipped(line, side, label_size) for line in labels[i].split("\n"))
            centre = (left + side / 2, y + above - gap)
            draw.multiline_text(centre, text, fill=RED, font=font(label_size), anchor="md", align="center")
    if not pictures:
        draw.text((width / 2, top + PAD + height / 2), empty, fill=BLACK, font=font(12), anchor="mm")
    return canvas


def vertical_text(text: str, size: int, length: float = math.inf) -> Image.Image:
    """`text` turned a quarter anticlockwise to read bottom to top, black on white, in lines of at
    most `length` pixels."""
    text = "\n".join(wrapped(text, length, size)) if text_width(text, size) > length else text
    box = ImageDraw.Draw(Image.new("RGB", (1, 1))).multiline_textbbox((0, 0), text, font=font(size), align="center")
    image = Image.new("RGB", (math.ceil(box[2]) + 2, math.ceil(box[3]) + 2), WHITE)
    ImageDraw.Draw(image).multiline_text((1, 1), text, fill=BLACK, font=font(size), align="center")
    return image.rotate(90, expand=True)


def heat_map(
    shares: np.ndarray,
    counts: np.ndarray | None,
    rows: list[str],
    columns: list[str],
    title: str,
    axes: tuple[str, str],
) -> Image.Image:
    """A `[R, C]` matrix of shares in [0, 1] as blue cells, each with its count (if `counts`), rows
    labelled on the left, columns below (turned upright where wider than a cell), `axes` naming
    (columns, rows), and a colour strip from 0 to 1 on the right."""
    size = 12
    cell = int(np.clip(520 // max(shares.shape), 4, 80))
    labelled = max(shares.shape) <= 50  # more names than that would only overlap
    row_width = max(text_width(name, size) for name in rows) if labelled else 0
    upright = labelled and max(text_width(name, size) for name in columns) > cell - 2
    column_band = (max(text_width(name, size) for name in columns) if upright else size * 1.2) if labelled else 0
    left = PAD + round(size * 2.6) + PAD + round(row_width) + 4
    strip = (PAD * 3, 12, PAD + round(text_width("100%", size)))  # gap, strip, its labels
    grid_w, grid_h = cell * shares.shape[1], cell * shares.shape[0]
    width = left + grid_w + sum(strip) + PAD
    lines, top = title_band(title, width)
    top += PAD
    height = top + grid_h + 4 + round(column_band) + round(size * 1.6) + PAD
    canvas = Image.new("RGB", (width, height), WHITE)
    draw = ImageDraw.Draw(canvas)
    draw_title(draw, lines, width)
    cells = Image.fromarray(blues(shares)).resize((grid_w, grid_h), Image.Resampling.NEAREST)
    canvas.paste(cells, (left, top))
    if counts is not None:
        count_size = min(size, max(7, cell // 3))
        for r, c in zip(*np.nonzero(counts), strict=True):
            centre = (left + c * cell + cell / 2, top + r * cell + cell / 2)
            colour = WHITE if shares[r, c] > 0.5 else BLACK
            draw.text(centre, str(counts[r, c]), fill=colour, font=font(count_size), anchor="mm")
    if labelled:
        for r, name in enumerate(rows):
            draw.text((left - 4, top + r * cell + cell / 2), name, fill=BLACK, font=font(size), anchor="rm")
        for c, name in enumerate(columns):
            x = left + c * cell + cell / 2
            if upright:
                label = vertical_text(name, size)
                canvas.paste(label, (round(x - label.width / 2), top + grid_h + 4))
            else:
                draw.text((x, top + grid_h + 4), name, fill=BLACK, font=font(size), anchor="ma")
    x_axis, y_axis = axes
    draw.text((left + grid_w / 2, height - PAD), x_axis, fill=BLACK, font=font(size), anchor="md")
    label = vertical_text(y_axis, size, max(grid_h, 4 * size))
    canvas.paste(label, (PAD, max(top, round(top + grid_h / 2 - label.height / 2))))
    x0 = left + grid_w + strip[0]
    gradient = blues(np.linspace(1, 0, grid_h))[:, None, :].repeat(strip[1], 1)
    canvas.paste(Image.fromarray(gradient), (x0, top))
    for share, y in ((1, top), (0, top + grid_h)):
        draw.text((x0 + strip[1] + 4, y), f"{share:.0%}", fill=BLACK, font=font(size), anchor="lm")
    return canvas
