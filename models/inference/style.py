"""What a StyleGAN user does daily, on plain arrays between the mapping and synthesis graphs:
truncation towards the average w (psi), style mixing at a crossover layer, noise modes, and
latent walks between two seeds (in w, or in z for any generator).

`map_fn(feeds) -> w` and `synth_fn(feeds) -> images` run the two ONNX graphs; nothing here knows
about sessions, so the worker's batcher and a plain session both fit.
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from models.inference.latents import sample_latents
from models.manifest import GeneratorSignature, StyleSpec

Feeds = dict[str, np.ndarray]


@dataclass(frozen=True)
class StyleRequest:
    seed: int
    n: int
    labels: np.ndarray | None = None
    psi: float = 1.0
    mix_seed: int | None = None  # style_mixing: the second seed …
    crossover: int | None = None  # … and the first layer that takes its styles
    noise_mode: str = "const"  # const · random


def truncate(w: np.ndarray, w_avg: np.ndarray, psi: float) -> np.ndarray:
    """StyleGAN's truncation: psi = 1 leaves w alone, psi = 0 gives the average w for every seed."""
    return w_avg + np.float32(psi) * (w - w_avg)


def broadcast(w: np.ndarray, num_ws: int) -> np.ndarray:
    return np.repeat(w[:, None, :], num_ws, axis=1)


def mix_styles(ws: np.ndarray, ws_other: np.ndarray, crossover: int) -> np.ndarray:
    """Layers from `crossover` on read the other seed's styles."""
    mixed = ws.copy()
    mixed[:, crossover:] = ws_other[:, crossover:]
    return mixed


def noise_length(style: StyleSpec) -> int:
    return sum(h * w for _, h, w in style.noise_shapes)


def noise_feeds(style: StyleSpec, n: int, mode: str, seed: int) -> Feeds:
    """'const': the maps stored with the weights; 'random': maps drawn from the seed."""
    if mode == "random":
        noise = np.random.default_rng([seed, 2]).standard_normal((n, noise_length(style)), dtype=np.float32)
        return {"noise_mix": np.ones(n, np.float32), "noise": noise}
    return {"noise_mix": np.zeros(n, np.float32), "noise": np.zeros((n, noise_length(style)), np.float32)}


def mapping_feeds(signature: GeneratorSignature, z: np.ndarray, labels: np.ndarray | None) -> Feeds:
    feeds = {"z": z}
    if signature.num_classes:
        feeds["labels"] = labels
    return feeds


def style_ws(map_fn: Callable[[Feeds], np.ndarray], signature: GeneratorSignature, seed: int, n: int,
             labels: np.ndarray | None, psi: float) -> np.ndarray:
    style = signature.style
    w = map_fn(mapping_feeds(signature, sample_latents(seed, n, signature.latent_dim), labels))
    return broadcast(truncate(w, np.asarray(style.w_avg, np.float32), psi), style.num_ws)


def synthesis_feeds(signature: GeneratorSignature, w: np.ndarray, *, psi: float = 1.0, noise_mode: str = "const",
                    seed: int = 0) -> Feeds:
    """The synthesis graph's inputs for one w per image [n, w_dim]."""
    style = signature.style
    ws = broadcast(truncate(w, np.asarray(style.w_avg, np.float32), psi), style.num_ws)
    return {"ws": ws, **noise_feeds(style, len(w), noise_mode, seed)}


def style_images(map_fn: Callable[[Feeds], np.ndarray], synth_fn: Callable[[Feeds], np.ndarray],
                 signature: GeneratorSignature, request: StyleRequest) -> np.ndarray:
    """Images [n, C, H, W] in [-1, 1] for one request."""
    style = signature.style
    ws = style_ws(map_fn, signature, request.seed, request.n, request.labels, request.psi)
    if request.mix_seed is not None:
        other = style_ws(map_fn, signature, request.mix_seed, request.n, request.labels, request.psi)
        ws = mix_styles(ws, other, request.crossover)
    return synth_fn({"ws": ws, **noise_feeds(style, request.n, request.noise_mode, request.seed)})


def lerp_frames(a: np.ndarray, b: np.ndarray, frames: int) -> np.ndarray:
    """[frames, *a.shape]: straight steps from a to b, both ends included."""
    t = np.linspace(0.0, 1.0, frames, dtype=np.float32).reshape(-1, *([1] * a.ndim))
    return a[None] + t * (b - a)[None]


def slerp_frames(a: np.ndarray, b: np.ndarray, frames: int) -> np.ndarray:
    """Steps along the great circle between two latent vectors (rows), ends included: Gaussian
    latents live near a sphere, so a straight line through its inside passes atypical codes."""
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    cos = np.sum(a64 * b64, axis=-1) / (np.linalg.norm(a64, axis=-1) * np.linalg.norm(b64, axis=-1))
    omega = np.arccos(np.clip(cos, -1.0, 1.0))[..., None]
    out = []
    for t in np.linspace(0.0, 1.0, frames):
        if np.all(np.abs(np.sin(omega)) < 1e-6):
            out.append((1 - t) * a64 + t * b64)
        else:
            out.append((np.sin((1 - t) * omega) * a64 + np.sin(t * omega) * b64) / np.sin(omega))
    out = np.stack(out).astype(np.float32)
    out[0], out[-1] = a, b  # ends exactly the two seeds' latents
    return out


def walk_latents(signature: GeneratorSignature, seed: int, to_seed: int, frames: int,
                 truncation: float | None = None) -> np.ndarray:
    """z for each frame of a walk from `seed` to `to_seed` (one image per seed): [frames, latent_dim]."""
    a = sample_latents(seed, 1, signature.latent_dim, truncation)[0]
    b = sample_latents(to_seed, 1, signature.latent_dim, truncation)[0]
    return slerp_frames(a, b, frames)


def style_walk(map_fn: Callable[[Feeds], np.ndarray], synth_fn: Callable[[Feeds], np.ndarray],
               signature: GeneratorSignature, seed: int, to_seed: int, frames: int, *, space: str,
               labels: np.ndarray | None, psi: float, noise_mode: str) -> np.ndarray:
    """Frames [frames, C, H, W] from `seed`'s image to `to_seed`'s, walking in w or in z."""
    style = signature.style
    one_label = labels[:1] if labels is not None else None
    if space == "w":
        w_a = style_ws(map_fn, signature, seed, 1, one_label, psi)[0]
        w_b = style_ws(map_fn, signature, to_seed, 1, one_label, psi)[0]
        ws = lerp_frames(w_a, w_b, frames)
    else:
        z = walk_latents(signature, seed, to_seed, frames)
        frame_labels = np.repeat(one_label, frames) if one_label is not None else None
        w = map_fn(mapping_feeds(signature, z, frame_labels))
        ws = broadcast(truncate(w, np.asarray(style.w_avg, np.float32), psi), style.num_ws)
    # The same noise in every frame, so only the latent moves.
    noise = noise_feeds(style, 1, noise_mode, seed)
    feeds = {"ws": ws, **{k: np.repeat(v, frames, axis=0) for k, v in noise.items()}}
    return synth_fn(feeds)
