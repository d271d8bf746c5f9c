"""pytorch-CycleGAN-and-pix2pix (junyanz) generators for tests: random weights under that project's
parameter names and shapes (state_dict order), and its networks' forward pass written from the raw
tensors with torch.nn.functional only, independent of GANForge's modules."""

from collections import OrderedDict

import torch
import torch.nn.functional as F

EPS = 1e-5  # BatchNorm2d's and InstanceNorm2d's default


class _Weights:
    """Seeded random tensors, appended in the order the reference module registers them."""

    def __init__(self, seed: int, norm: str):
        self.generator = torch.Generator().manual_seed(seed)
        self.norm = norm
        self.state: OrderedDict[str, torch.Tensor] = OrderedDict()

    def _random(self, *shape, scale: float = 1.0) -> torch.Tensor:
        return torch.randn(*shape, generator=self.generator) * scale

    def conv(self, key: str, out_c: int, in_c: int, k: int, *, bias: bool | None = None, transposed: bool = False):
        bias = self.norm == "instance" if bias is None else bias
        fan_in = in_c * k * k / (4 if transposed else 1)  # inputs that reach one output: activations stay of order one
        shape = (in_c, out_c, k, k) if transposed else (out_c, in_c, k, k)
        self.state[f"{key}.weight"] = self._random(*shape, scale=1.0 / fan_in**0.5)
        if bias:
            self.state[f"{key}.bias"] = self._random(out_c, scale=0.1)

    def norm_layer(self, key: str, channels: int):
        if self.norm == "batch":
            self.state[f"{key}.weight"] = 1 + self._random(channels, scale=0.1)
            self.state[f"{key}.bias"] = self._random(channels, scale=0.1)
            self.state[f"{key}.running_mean"] = self._random(channels, scale=0.1)
            self.state[f"{key}.running_var"] = 0.5 + torch.rand(channels, generator=self.generator)
            self.state[f"{key}.num_batches_tracked"] = torch.tensor(1234)


def unet_prefix(level: int) -> str:
    return "model.model" if level == 0 else "model.model.1.model" + ".3.model" * (level - 1)


def unet_widths(level: int, ngf: int, channels_out: int) -> tuple[int, int]:
    """(outer, inner) channels of a U-Net level, outermost first."""
    if level == 0:
        return channels_out, ngf
    return ngf * min(2 ** (level - 1), 8), ngf * min(2**level, 8)


def unet_state(num_downs: int, ngf: int, channels_in: int, channels_out: int, norm: str, seed: int = 0):
    w = _Weights(seed, norm)
    for level in range(num_downs):
        p, (outer, inner) = unet_prefix(level), unet_widths(level, ngf, channels_out)
        if level == 0:
            w.conv(f"{p}.0", inner, channels_in, 4)
        elif level == num_downs - 1:
            w.conv(f"{p}.1", inner, outer, 4)
            w.conv(f"{p}.3", outer, inner, 4, transposed=True)
            w.norm_layer(f"{p}.4", outer)
        else:
            w.conv(f"{p}.1", inner, outer, 4)
            w.norm_layer(f"{p}.2", inner)
    # The up halves are registered after each level's submodule: walk back out.
    for level in reversed(range(num_downs - 1)):
        p, (outer, inner) = unet_prefix(level), unet_widths(level, ngf, channels_out)
        if level == 0:
            w.conv(f"{p}.3", outer, inner * 2, 4, bias=True, transposed=True)
        else:
            w.conv(f"{p}.5", outer, inner * 2, 4, transposed=True)
            w.norm_layer(f"{p}.6", outer)
    return _registration_order(w.state)


def _registration_order(state):
    """state_dict() order: depth first through the nested Sequentials, by index."""
    def sort_key(key):
        return [int(part) if part.isdigit() else -1 for part in key.split(".") if part != "model"]
    return OrderedDict(sorted(state.items(), key=lambda item: sort_key(item[0])))


def resnet_state(n_blocks: int, ngf: int, channels_in: int, channels_out: int, norm: str, *, dropout: bool = False,
                 seed: int = 0):
    w = _Weights(seed, norm)
    w.conv("model.1", ngf, channels_in, 7)
    w.norm_layer("model.2", ngf)
    w.conv("model.4", ngf * 2, ngf, 3)
    w.norm_layer("model.5", ngf * 2)
    w.conv("model.7", ngf * 4, ngf * 2, 3)
    w.norm_layer("model.8", ngf * 4)
    second = 6 if dropout else 5
    for k in range(10, 10 + n_blocks):
        w.conv(f"model.{k}.conv_block.1", ngf * 4, ngf * 4, 3)
        w.norm_layer(f"model.{k}.conv_block.2", ngf * 4)
        w.conv(f"model.{k}.conv_block.{second}", ngf * 4, ngf * 4, 3)
        w.norm_layer(f"model.{k}.conv_block.{second + 1}", ngf * 4)
    up = 10 + n_blocks
    w.conv(f"model.{up}", ngf * 2, ngf * 4, 3, transposed=True)
    w.norm_layer(f"model.{up + 1}", ngf * 2)
    w.conv(f"model.{up + 3}", ngf, ngf * 2, 3, transposed=True)
    w.norm_layer(f"model.{up + 4}", ngf)
    w.conv(f"model.{up + 7}", channels_out, ngf, 7, bias=True)
    return w.state


# --- the reference computation: functional ops on the raw tensors ----------------------------

def _norm(x, sd, key, norm):
    if norm == "instance":
        mean = x.mean(dim=(2, 3), keepdim=True)
        var = x.var(dim=(2, 3), keepdim=True, unbiased=False)
        return (x - mean) / torch.sqrt(var + EPS)
    shape = (1, -1, 1, 1)
    scale = sd[f"{key}.weight"].view(shape) / torch.sqrt(sd[f"{key}.running_var"].view(shape) + EPS)
    return (x - sd[f"{key}.running_mean"].view(shape)) * scale + sd[f"{key}.bias"].view(shape)


def _conv(x, sd, key, **kw):
    return F.conv2d(x, sd[f"{key}.weight"], sd.get(f"{key}.bias"), **kw)


def _up(x, sd, key, **kw):
    return F.conv_transpose2d(x, sd[f"{key}.weight"], sd.get(f"{key}.bias"), **kw)


def unet_reference(sd, x, num_downs, norm):
    def level(k, x):
        p = unet_prefix(k)
        if k == 0:
            h = block(1, _conv(x, sd, f"{p}.0", stride=2, padding=1))
            return torch.tanh(_up(F.relu(h), sd, f"{p}.3", stride=2, padding=1))
        h = _conv(F.leaky_relu(x, 0.2), sd, f"{p}.1", stride=2, padding=1)
        if k == num_downs - 1:
            h = _norm(_up(F.relu(h), sd, f"{p}.3", stride=2, padding=1), sd, f"{p}.4", norm)
        else:
            h = block(k + 1, _norm(h, sd, f"{p}.2", norm))
            h = _norm(_up(F.relu(h), sd, f"{p}.5", stride=2, padding=1), sd, f"{p}.6", norm)
        return h

    def block(k, x):
        return torch.cat([x, level(k, x)], 1)

    return level(0, x)


def resnet_reference(sd, x, n_blocks, norm, dropout=False):
    def pad(h, p):
        return F.pad(h, (p, p, p, p), mode="reflect")

    h = F.relu(_norm(_conv(pad(x, 3), sd, "model.1"), sd, "model.2", norm))
    h = F.relu(_norm(_conv(h, sd, "model.4", stride=2, padding=1), sd, "model.5", norm))
    h = F.relu(_norm(_conv(h, sd, "model.7", stride=2, padding=1), sd, "model.8", norm))
    second = 6 if dropout else 5
    for k in range(10, 10 + n_blocks):
        b = f"model.{k}.conv_block"
        r = F.relu(_norm(_conv(pad(h, 1), sd, f"{b}.1"), sd, f"{b}.2", norm))
        h = h + _norm(_conv(pad(r, 1), sd, f"{b}.{second}"), sd, f"{b}.{second + 1}", norm)
    up = 10 + n_blocks
    h = F.relu(_norm(_up(h, sd, f"model.{up}", stride=2, padding=1, output_padding=1), sd, f"model.{up + 1}", norm))
    h = F.relu(_norm(_up(h, sd, f"model.{up + 3}", stride=2, padding=1, output_padding=1), sd, f"model.{up + 4}", norm))
    return torch.tanh(_conv(pad(h, 3), sd, f"model.{up + 7}"))
