"""HTTPS without a proxy: `linecheck serve api` with a certificate of a plant's own CA, and inspectors
that trust that CA (``LINECHECK_INSPECTOR_API_CA_FILE``). The certificates are made here, for 127.0.0.1."""

from __future__ import annotations

import uuid
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest
from api_payloads import textile
from lc_certs import plant_ca
from pydantic import ValidationError

from linecheck.inspect.api_client import ApiClient, ApiSendError
from linecheck.inspect.settings import InspectorSettings
from linecheck.serving.api.settings import ApiSettings
from linecheck.serving.api.testing import create_key, run_api_process
from linecheck.serving.store.db import sqlite_url


def test_https_settings_need_a_certificate_and_its_key(tmp_path: Path) -> None:
    _, cert, key = plant_ca(tmp_path)
    assert ApiSettings(ssl_certfile=cert, ssl_keyfile=key).ssl_keyfile == key
    with pytest.raises(ValidationError, match="HTTPS needs both"):
        ApiSettings(ssl_certfile=cert)
    with pytest.raises(ValidationError, match=r"ssl_keyfile\n.*no such file.*missing\.key"):
        ApiSettings(ssl_certfile=cert, ssl_keyfile=tmp_path / "missing.key")


def test_an_inspector_trusting_the_plant_ca_sends_over_https(tmp_path: Path) -> None:
    ca, cert, key = plant_ca(tmp_path)
    url = sqlite_url(tmp_path / "linecheck.db")
    env = {"LINECHECK_API_SSL_CERTFILE": str(cert), "LINECHECK_API_SSL_KEYFILE": str(key)}
    with run_api_process(url, tmp_path, env=env, tls_ca=ca) as (base, _):
        assert base.startswith("https://")
        line_key = create_key(url, "line", "textile-01")
        settings = InspectorSettings(api_url=base, api_key=line_key, api_ca_file=ca)
        client = ApiClient(settings.api_url, settings.api_key, ca_file=settings.api_ca_file)
        _, png = cv2.imencode(".png", np.zeros((16, 16, 3), np.uint8))
        ref = client.upload_image(png.tobytes(), "image/png")
        assert isinstance(ref, str), ref
        body = textile(
            "RL0000000978", verdict="pass", image_ref=ref, image_width=16, image_height=16, defects=[]
        )
        outcome = client.post_inspection(body)
        assert outcome.status == "created", outcome.error
        # Without the plant's CA the certificate is not trusted: a connection error naming why.
        with pytest.raises(ApiSendError, match="CERTIFICATE_VERIFY_FAILED"):
            ApiClient(base, line_key).post_inspection({**body, "id": uuid.uuid4().hex})
        with pytest.raises(httpx.TransportError):  # plain HTTP is not served on the HTTPS port
            httpx.get(base.replace("https://", "http://") + "/healthz", timeout=5).raise_for_status()
