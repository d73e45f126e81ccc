"""Run the linecheck CLI with outbound network made impossible; record every attempt.

Usage: python offline_cli.py ATTEMPTS_JSON linecheck-args...
"""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path

ATTEMPTS: list[str] = []
_connect = socket.socket.connect
_connect_ex = socket.socket.connect_ex


def _refuse(what: str) -> OSError:
    ATTEMPTS.append(what)
    return OSError(f"network disabled in this test: {what}")


def _guarded_connect(self: socket.socket, address: object) -> None:
    if self.family in (socket.AF_INET, socket.AF_INET6):
        raise _refuse(f"connect {address!r}")
    _connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: object) -> int:
    if self.family in (socket.AF_INET, socket.AF_INET6):
        raise _refuse(f"connect_ex {address!r}")
    return _connect_ex(self, address)


def _no_dns(host: object, *args: object, **kwargs: object) -> list[object]:
    raise _refuse(f"getaddrinfo {host!r}")


def _no_connection(address: object, *args: object, **kwargs: object) -> socket.socket:
    raise _refuse(f"create_connection {address!r}")


socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]
socket.getaddrinfo = _no_dns  # type: ignore[assignment]
socket.create_connection = _no_connection  # type: ignore[assignment]


def main() -> int:
    out = Path(sys.argv[1])
    from linecheck.cli.main import app

    code = 0
    try:
        app(sys.argv[2:], prog_name="linecheck")
    except SystemExit as exc:
        code = int(exc.code or 0)
    except Exception as exc:
        print(f"CLI raised {type(exc).__name__}: {exc}", file=sys.stderr)
        code = 1
    finally:
        out.write_text(json.dumps(ATTEMPTS), encoding="utf-8")
    return code


if __name__ == "__main__":
    sys.exit(main())
