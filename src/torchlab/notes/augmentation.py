"""Data augmentation: flips, rotation, resize, random crop, noise (torchvision transforms on tensors).

RandomRotation([90, 180, 270]) raises (a sequence means a (min, max) range of 2); one of three angles
is a RandomChoice of fixed rotations. RandomCrop([28, 28]) of a 28x28 MNIST image is the identity:
crop smaller, or pad first (RandomCrop(28, padding=4)).

On real MNIST (from the data root): flips and right-angle turns change what a digit is (a 9 turned
by 180 degrees looks like a 6: 1 in 100 is still read as a 9; a 1 turned by 90 degrees never reads
as a 1), so the notes' flips and 90/180/270 rotations teach wrong labels. Small rotations (±15°)
keep the class: each digit's share drops by less than a tenth. Resize([32, 32]) is not random
scaling: it makes every image 32x32, the same way each time (and 1024 pixels no longer fit the
MLP's view(-1, 784)); RandomAffine(scale=(0.9, 1.1)) zooms at random and keeps 28x28.
The notes' Noise, "provided in numpy", has no code: GaussianNoise(sigma=0.1) adds to each image its
own noise of a tenth of the pixel range (np.random.normal would too, then back to a tensor), and it
keeps the class as small rotations do. The notes' last item, GAN, makes new images rather than
changing given ones: `torchlab notes gan` and the mnist-dcgan recipe train one.

The transforms are torchvision.transforms.v2 on uint8 tensors (no PIL, so no ToTensor), applied
to images directly rather than through the notes' MNIST DataLoader.
"""

import torch
from torchvision.transforms import v2 as transforms

from torchlab.notes import show
from torchlab.notes._mnist import mnist

ORDER = 270
BLOCKS = ("Flip：翻转", "Rotate：旋转", "Scale：缩放", "Crop：随机裁剪")
NOISE = transforms.GaussianNoise(sigma=0.1)  # in units of the pixel range: 25.5 of a uint8's 255


def right_angles() -> transforms.RandomChoice:
    """Rotate by one of 90, 180 or 270 degrees."""
    return transforms.RandomChoice([transforms.RandomRotation((a, a)) for a in (90, 180, 270)])


def rotation_from_notes() -> transforms.RandomRotation:
    return transforms.RandomRotation([90, 180, 270])


def presets() -> dict[str, transforms.Transform]:
    return {
        "flip": transforms.Compose([transforms.RandomHorizontalFlip(), transforms.RandomVerticalFlip()]),
        "rotate": transforms.Compose([transforms.RandomRotation(15), right_angles()]),
        "scale": transforms.RandomAffine(degrees=0, scale=(0.9, 1.1)),  # the notes' Resize([32, 32]) is no zoom
        "crop": transforms.RandomCrop([28, 28], padding=4),
        "noise": NOISE,
    }


TURNS = {
    "as they are": lambda x: x,
    "RandomRotation(15)": lambda x: torch.stack([transforms.RandomRotation(15)(i) for i in x]),
    "vertical flip": lambda x: x.flip(-2),
    "horizontal flip": lambda x: x.flip(-1),
    "turned 90°": lambda x: x.rot90(1, (-2, -1)),
    "turned 180°": lambda x: x.rot90(2, (-2, -1)),
    "GaussianNoise(0.1)": NOISE,
}


def read_as_own_class(train: int = 20000, test: int = 2000) -> dict[str, torch.Tensor]:
    """Per transform, the share of each digit (0-9) of MNIST's test images that a nearest-class-mean
    reader (the mean image of each digit over `train` training images) still reads as its own class."""
    x, y = mnist(True, train)
    means = torch.stack([x[y == k].float().mean(0) for k in range(10)]).flatten(1)
    tx, ty = mnist(False, test)
    shares = {}
    for name, turn in TURNS.items():
        read = torch.cdist(turn(tx).float().flatten(1), means).argmin(1)
        shares[name] = torch.stack([(read[ty == k] == k).float().mean() for k in range(10)])
    return shares


def main() -> None:
    torch.manual_seed(0)
    shares = read_as_own_class()
    print("share of each digit still read as itself (nearest mean image), on 2,000 MNIST test images:")
    print(f"{'':<20}" + "".join(f"{k:>6}" for k in range(10)))
    for name, share in shares.items():
        print(f"{name:<20}" + "".join(f"{v:>6.2f}" for v in share.tolist()))
    image = torch.arange(28 * 28, dtype=torch.uint8).view(1, 28, 28)  # an MNIST-sized image
    show("the notes' Resize([32, 32]) of a [1, 28, 28] image", tuple(transforms.Resize([32, 32])(image).shape))
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
