"""The app under test (``Api``) and its settings; imported by conftest and the tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from linecheck.serving.api.context import ApiContext
from linecheck.serving.api.settings import ApiSettings

ROOT = Path(__file__).resolve().parents[3]
LINES_DIR = ROOT / "configs" / "lines"


@dataclass
class Api:
    """The app under test, its context and one key per role."""

    client: TestClient
    context: ApiContext
    keys: dict[str, str]

    def headers(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[who]}"}

    def post(self, path: str, who: str, **kwargs: Any) -> Any:
        return self.client.post(path, headers=self.headers(who), **kwargs)

    def get(self, path: str, who: str = "viewer", **kwargs: Any) -> Any:
        return self.client.get(path, headers=self.headers(who), **kwargs)


def make_settings(db_url: str, data_dir: Path, **overrides: Any) -> ApiSettings:
    values: dict[str, Any] = {"lines_dir": LINES_DIR, **overrides}
    return ApiSettings(database_url=db_url, data_dir=data_dir, **values)
