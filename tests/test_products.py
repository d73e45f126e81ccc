"""Products (recipes) in the line YAML: each one the line's config with its own changes, checked at load."""

from __future__ import annotations

from pathlib import Path

import pytest

from linecheck.config import LineConfig, load_line
from linecheck.errors import ConfigError, InvalidFieldError

ROOT = Path(__file__).resolve().parents[1]

BEARING = """
id: bearing-07
kind: bearing
thresholds: {default: 0.4, rust: 0.5}
code_pattern: "BR\\\\d{10}"
bearing: {outer_radius_frac: 0.47, inner_radius_frac: 0.28}
default_product: "6204"
products:
  - {id: "6204", name: deep-groove 6204}
  - id: "6205-2RS"
    name: sealed 6205
    code_pattern: "BR6205\\\\d{6}"
    thresholds: {scratch: 0.7}
    bearing: {inner_radius_frac: 0.31}
    speed_m_per_min: 12
    model: {name: bearing-6205, version: "2"}
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "line.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_product_is_the_line_with_its_changes(tmp_path: Path) -> None:
    line = load_line(_write(tmp_path, BEARING))
    sealed = line.for_product("6205-2RS")
    assert sealed.id == line.id and sealed.product == "6205-2RS" and line.product is None
    assert sealed.thresholds == {"default": 0.4, "rust": 0.5, "scratch": 0.7}  # merged key by key
    assert sealed.options.inner_radius_frac == 0.31  # type: ignore[attr-defined]
    assert sealed.options.outer_radius_frac == 0.47  # type: ignore[attr-defined]  # the line's, kept
    assert sealed.speed_m_per_min == 12 and sealed.model is not None and sealed.model.name == "bearing-6205"
    assert sealed.classes == line.classes and sealed.cameras == line.cameras and sealed.products == []
    plain = line.for_product("6204")
    assert plain.thresholds == line.thresholds and plain.model == line.model
    assert line.for_product(None) is line
    assert [v.product for v in line.variants()] == [None, "6204", "6205-2RS"]
    assert line.product_for_code("BR6205000123") == "6205-2RS"
    assert line.product_for_code("BR6204000123") is None and line.product_for_code(None) is None


def test_a_product_changes_its_cameras_frame_checks_key_by_key(tmp_path: Path) -> None:
    text = BEARING.replace(
        "bearing: {outer_radius_frac: 0.47, inner_radius_frac: 0.28}\n",
        "bearing: {outer_radius_frac: 0.47, inner_radius_frac: 0.28}\n"
        "cameras: [{station: cam1, checks: {brightness: [80, 240], min_sharpness: 12}}]\n",
    )
    line = load_line(
        _write(tmp_path, text + '  - {id: "6206-black", checks: {cam1: {brightness: [15, 120]}}}\n')
    )
    black = line.for_product("6206-black").cameras[0].checks
    assert black.brightness == (15.0, 120.0) and black.min_sharpness == 12  # the camera's, kept
    assert line.for_product("6204").cameras[0].checks == line.cameras[0].checks
    assert LineConfig.model_validate(line.model_dump(mode="json")).for_product(
        "6206-black"
    ) == line.for_product("6206-black")


def test_products_round_trip_as_the_yaml_writes_them(tmp_path: Path) -> None:
    line = load_line(_write(tmp_path, BEARING))
    dumped = line.model_dump(mode="json")
    assert dumped["products"][1]["bearing"] == {"inner_radius_frac": 0.31}  # under the kind's name
    assert "bearing" not in dumped["products"][0] and "options" not in dumped["products"][0]
    again = LineConfig.model_validate(dumped)
    assert again.for_product("6205-2RS") == line.for_product("6205-2RS")
    assert LineConfig.from_stored(dumped).default_product == "6204"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            '  - {id: "6206", bearing: {outer_radius_frac: 2.0}}',
            "products.2 (6206): bearing.outer_radius_frac",
        ),
        ('  - {id: "6206", pv: {rows: 6}}', "products.2: section 'pv' belongs to pv lines"),
        ('  - {id: "6206", thresholds: {chip: 0.5}}', "products.2 (6206): thresholds names unknown classes"),
        ('  - {id: "6206", thresholds: {rust: 1.5}}', "thresholds.rust=1.5"),
        ('  - {id: "6204"}', "products: ['6204'] listed more than once"),
        ('  - {id: "62 06"}', "products.2.id"),
        ('  - {id: "6206", code_pattern: "BR(6206"}', "is not a regular expression"),
        ('  - {id: "6206", speed: 3}', "products.2.speed"),
        (
            '  - {id: "6206", checks: {side: {brightness: [10, 90]}}}',
            "products.2 (6206): checks names ['side'], not stations of the line's cameras ['cam1']",
        ),
        (
            '  - {id: "6206", checks: {cam1: {brightness: [90, 10]}}}',
            "products.2 (6206): cameras.0.checks.brightness",
        ),
        ('  - {id: "6206", checks: {cam1: {focus: 3}}}', "products.2 (6206): cameras.0.checks.focus"),
    ],
)
def test_a_bad_product_is_refused_naming_it(tmp_path: Path, change: str, expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_line(_write(tmp_path, BEARING + change + "\n"))
    assert expected in str(err.value)
    assert str(tmp_path / "line.yaml") in str(err.value)


def test_the_default_product_must_be_one_of_them(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_line(_write(tmp_path, BEARING.replace('default_product: "6204"', 'default_product: "6300"')))
    assert "default_product='6300' is not one of the products ['6204', '6205-2RS']" in str(err.value)


def test_an_unknown_product_is_an_error_naming_it(tmp_path: Path) -> None:
    line = load_line(_write(tmp_path, BEARING))
    with pytest.raises(InvalidFieldError) as err:
        line.for_product("6300")
    assert err.value.field == "product" and err.value.value == "6300" and "6205-2RS" in str(err.value)


def test_the_shipped_lines_have_no_products_and_judge_as_before() -> None:
    for path in sorted((ROOT / "configs" / "lines").glob("*.yaml")):
        line = load_line(path)
        assert line.variants() == [line]
        assert line.for_product(None) is line
