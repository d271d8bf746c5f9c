"""Image sides the convolutional generators can produce, checked without loading torch."""


def start_size(image_size: int) -> tuple[int, int]:
    """(start side, number of doublings) for an image side, or ValueError."""
    side, doublings = image_size, 0
    while side > 7 and side % 2 == 0:
        side, doublings = side // 2, doublings + 1
    if doublings == 0 or not 3 <= side <= 7:
        raise ValueError(f"image_size {image_size} is not start * 2**k with a start of 3 to 7 and k >= 1")
    return side, doublings
