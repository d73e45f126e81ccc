"""Settings of ``linecheck data from-reviews`` (``LINECHECK_REVIEWS_`` environment variables)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from linecheck.settings_env import ServiceSettings


class ReviewExportSettings(ServiceSettings):
    """What the review export reads from the environment when its options leave it unset."""

    model_config = SettingsConfigDict(env_prefix="LINECHECK_REVIEWS_")
    env_title: ClassVar[str] = "Review export (`linecheck data from-reviews`)"

    api_key: str = Field(
        "", description="API key sent with --api when --key is not given (any role may read)"
    )
