"""A fake provider served by uvicorn on a free loopback port, in a thread of its own, so the
official (synchronous or asynchronous) clients and the platform reach it over real HTTP."""

from __future__ import annotations

import asyncio
import socket
import threading
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

import uvicorn
from starlette.applications import Starlette


class Fake(Protocol):
    base_url: str

    def app(self) -> Starlette: ...


F = TypeVar("F", bound=Fake)


class Loopback(Generic[F]):
    """``with Loopback(fake, "Replicate") as fake: fake.base_url`` — set once the port is known.

    ``cert_file`` serves https (fal's client speaks nothing else); ``force_exit`` stops at once,
    so a request a test left held (a slow answer) does not hold the tests up."""

    def __init__(
        self,
        fake: F,
        name: str,
        *,
        cert_file: Path | None = None,
        force_exit: bool = False,
        **uvicorn_options: Any,
    ) -> None:
        self.fake, self.name, self.force_exit = fake, name, force_exit
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind(("127.0.0.1", 0))
        self.port: int = self._socket.getsockname()[1]
        scheme = "https" if cert_file else "http"
        self.fake.base_url = f"{scheme}://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            self.fake.app(),
            log_level="warning",
            lifespan="off",
            ssl_certfile=str(cert_file) if cert_file else None,
            **uvicorn_options,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        asyncio.run(self._server.serve(sockets=[self._socket]))

    def __enter__(self) -> F:
        self._thread.start()
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError(f"the fake {self.name} did not start")
            threading.Event().wait(0.01)
        return self.fake

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._server.force_exit = self.force_exit
        self._thread.join(10)
        self._socket.close()
