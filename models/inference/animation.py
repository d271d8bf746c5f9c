"""Frames of a latent walk as one animated picture (WebP or GIF), beside the single frames."""

import io

import numpy as np
from PIL import Image

ANIMATION_TYPES = {"webp": "image/webp", "gif": "image/gif"}


def encode_animation(frames: np.ndarray, fmt: str, *, frame_ms: int = 120) -> bytes:
    """`frames`: uint8 [k, H, W, C] (C 1 or 3) -> an endlessly looping animation."""
    if fmt not in ANIMATION_TYPES:
        raise ValueError(f"unknown animation format {fmt!r}; known: {', '.join(ANIMATION_TYPES)}")
    pictures = [Image.fromarray(frame[..., 0] if frame.shape[-1] == 1 else frame) for frame in frames]
    buffer = io.BytesIO()
    options = {"lossless": True} if fmt == "webp" else {}
    pictures[0].save(buffer, format=fmt.upper(), save_all=True, append_images=pictures[1:], duration=frame_ms,
                     loop=0, **options)
    return buffer.getvalue()
