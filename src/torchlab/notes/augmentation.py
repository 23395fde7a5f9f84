"""Data augmentation: flips, rotation, resize, random crop (torchvision transforms on tensors).

RandomRotation([90, 180, 270]) raises (a sequence means a (min, max) range of 2); one of three angles
is a RandomChoice of fixed rotations. RandomCrop([28, 28]) of a 28x28 MNIST image is the identity:
crop smaller, or pad first (RandomCrop(28, padding=4)).
"""

import torch
from torchvision.transforms import v2 as transforms

from torchlab.notes import show

ORDER = 270
BLOCKS = ("Flip：翻转", "Rotate：旋转", "Scale：缩放", "Crop：随机裁剪")


def right_angles() -> transforms.RandomChoice:
    """Rotate by one of 90, 180 or 270 degrees."""
    return transforms.RandomChoice([transforms.RandomRotation((a, a)) for a in (90, 180, 270)])


def rotation_from_notes() -> transforms.RandomRotation:
    return transforms.RandomRotation([90, 180, 270])


def presets() -> dict[str, transforms.Transform]:
    return {
        "flip": transforms.Compose([transforms.RandomHorizontalFlip(), transforms.RandomVerticalFlip()]),
        "rotate": transforms.Compose([transforms.RandomRotation(15), right_angles()]),
        "scale": transforms.Resize([32, 32]),
        "crop": transforms.RandomCrop([28, 28], padding=4),
    }


def main() -> None:
    image = torch.arange(28 * 28, dtype=torch.uint8).view(1, 28, 28)  # an MNIST-sized image
    for name, transform in presets().items():
        show(f"{name}: {transform.__class__.__name__} of [1, 28, 28]", tuple(transform(image).shape))
    show(
        "RandomCrop([28, 28]) without padding changes nothing",
        torch.equal(transforms.RandomCrop([28, 28])(image), image),
    )
    try:
        rotation_from_notes()
    except ValueError as err:
        show("RandomRotation([90, 180, 270])", f"ValueError: {err}")
    corner = torch.zeros(1, 3, 3)
    corner[0, 0, 0] = 1.0
    show("one of 90/180/270 degrees: the corner pixel moves to", right_angles()(corner)[0].nonzero().tolist())
