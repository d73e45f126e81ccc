"""Several models per line: union of detections, one class list, a failing model fails the call."""

from __future__ import annotations

import numpy as np
import pytest

from linecheck.config import LineConfig, ModelRef
from linecheck.errors import ConfigError, InferenceError, ModelContractError, ServerUnavailableError
from linecheck.inspect.detectors import _with_extras
from linecheck.messages import Detections
from linecheck.model.union import UnionDetector


class Fake:
    def __init__(self, name, classes, boxes=(), fail=False):
        self.model_name, self.model_version, self.class_names = name, "1", tuple(classes)
        self._boxes, self._fail, self.closed = boxes, fail, False

    def detect(self, images):
        if self._fail:
            raise ServerUnavailableError(f"{self.model_name} is down")
        rows = [(b, s, c) for b, s, c in self._boxes]
        return [
            Detections(
                xyxy=np.asarray([r[0] for r in rows], np.float32).reshape(-1, 4),
                confidence=np.asarray([r[1] for r in rows], np.float32),
                class_id=np.asarray([r[2] for r in rows], np.int64),
                class_names=self.class_names,
            )
            for _ in images
        ]

    def close(self):
        self.closed = True


FRAME = np.zeros((32, 32, 3), np.uint8)


def test_union_holds_every_models_detections_under_one_class_list():
    detector = Fake("pv", ["crack", "dark_cell"], [((1, 1, 4, 4), 0.9, 1)])
    classifier = Fake("pv-cls", ["defective"], [((0, 0, 32, 32), 0.7, 0)])
    anomaly = Fake("pv-anomaly", ["anomaly"])
    union = UnionDetector([detector, classifier, anomaly])
    (found,) = union.detect([FRAME])
    assert union.class_names == ("crack", "dark_cell", "defective", "anomaly")
    assert found.names() == ["dark_cell", "defective"] and found.confidence.tolist() == pytest.approx(
        [0.9, 0.7]
    )
    assert union.model_version == "pv:1+pv-cls:1+pv-anomaly:1"
    assert union.model_of("defective") == "pv-cls"


def test_a_failing_model_fails_the_whole_call_so_the_unit_is_not_inspected():
    union = UnionDetector([Fake("pv", ["crack"]), Fake("pv-anomaly", ["anomaly"], fail=True)])
    with pytest.raises(ServerUnavailableError, match="pv-anomaly"):
        union.detect([FRAME])


def test_a_model_answering_the_wrong_number_of_images_is_an_inference_error():
    class Short(Fake):
        def detect(self, images):
            return []

    with pytest.raises(InferenceError, match="0 results for 1 images"):
        UnionDetector([Fake("pv", ["crack"]), Short("pv-cls", ["defective"])]).detect([FRAME])


def test_two_models_may_not_answer_the_same_class():
    with pytest.raises(ModelContractError, match="'crack'"):
        UnionDetector([Fake("a", ["crack"]), Fake("b", ["crack"])])


def _line(classes, extras):
    return LineConfig(
        id="pv-x",
        kind="pv",
        classes=classes,
        model=ModelRef(name="pv"),
        extra_models=[ModelRef(name=n) for n in extras],
    )


def test_a_line_with_extra_models_gets_their_union():
    models = {"pv": ["crack"], "pv-anomaly": ["anomaly"]}
    built = _with_extras(_line(["crack", "anomaly"], ["pv-anomaly"]), lambda n, v, c: Fake(n, models[n]))
    assert isinstance(built, UnionDetector) and built.class_names == ("crack", "anomaly")


def test_a_line_whose_classes_differ_from_its_models_is_refused_and_the_models_closed():
    made = []

    def build(name, version, classes):
        made.append(Fake(name, ["crack"] if name == "pv" else ["anomaly"]))
        return made[-1]

    with pytest.raises(ConfigError, match="the line lists"):
        _with_extras(_line(["crack", "dent"], ["pv-anomaly"]), build)
    assert all(d.closed for d in made)


def test_a_model_entry_with_tile_runs_on_native_tiles():
    from linecheck.model.tiling import TiledDetector

    line = LineConfig(
        id="tx", kind="textile", classes=["anomaly"], model=ModelRef(name="fab", tile=64, tile_overlap=0)
    )
    built = _with_extras(line, lambda n, v, c: Fake(n, ["anomaly"], [((1, 1, 5, 5), 0.8, 0)]))
    assert isinstance(built, TiledDetector)
    (found,) = built.detect([np.zeros((64, 256, 3), np.uint8)])
    assert len(found) == 4
