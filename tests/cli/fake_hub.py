"""A fake Hugging Face Hub on loopback: enough of the hub's HTTP API for huggingface_hub's
``model_info`` and ``snapshot_download`` (read from its source: ``GET /api/models/{repo}/revision/
{rev}`` with siblings, ``GET /api/models/{repo}/tree/{commit}?recursive=…``, and ``HEAD``/``GET
/{repo}/resolve/{rev}/{path}`` with the ``X-Repo-Commit``, ``ETag`` and ``Content-Length``
headers, ``Range`` for resumed downloads, and ``X-Error-Code`` on errors). Point ``HF_ENDPOINT``
at :attr:`FakeHub.url`."""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit


@dataclass
class Repo:
    files: dict[str, bytes]
    commit: str = "0123456789abcdef0123456789abcdef01234567"
    gated: bool = False


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]  # names in lower case


@dataclass
class FakeHub:
    url: str = ""
    repos: dict[str, Repo] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    # A file whose download stops after half its bytes until ``release`` is set: an interrupted
    # download, for the test to kill the command meanwhile.
    held: str | None = None
    holding: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)

    def add_folder(self, repo_id: str, folder: Path, **extra: bytes) -> Repo:
        files = {
            path.relative_to(folder).as_posix(): path.read_bytes()
            for path in sorted(folder.rglob("*"))
            if path.is_file()
        }
        repo = Repo({**files, **extra})
        self.repos[repo_id] = repo
        return repo

    def downloads(self, path: str) -> int:
        """How many times a file's bytes were asked for (GET on its resolve URL)."""
        return sum(1 for r in self.requests if r.method == "GET" and r.path.endswith("/" + path))


_API = re.compile(r"/api/models/(?P<repo>[^/]+/[^/]+)(?:/(?P<what>revision|tree)/(?P<rev>[^/]+))?")
_RESOLVE = re.compile(r"/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<path>.+)")


def _handler(hub: FakeHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # quiet
            pass

        def do_GET(self) -> None:
            self.answer(body=True)

        def do_HEAD(self) -> None:
            self.answer(body=False)

        def answer(self, *, body: bool) -> None:
            path = unquote(urlsplit(self.path).path)
            hub.requests.append(
                Request(self.command, path, {k.lower(): v for k, v in self.headers.items()})
            )
            if match := _API.fullmatch(path):
                repo = self.repo(match["repo"], match["rev"])
                if repo is None:
                    return
                if match["what"] == "tree":
                    entries = [
                        {"type": "file", "path": p, "size": len(data), "oid": _sha1(data)}
                        for p, data in repo.files.items()
                    ]
                    return self.json(entries)
                siblings = [
                    {"rfilename": p, "size": len(data), "blobId": _sha1(data)}
                    for p, data in repo.files.items()
                ]
                return self.json({"id": match["repo"], "sha": repo.commit, "siblings": siblings})
            if match := _RESOLVE.fullmatch(path):
                repo = self.repo(match["repo"], match["rev"])
                if repo is None:
                    return
                data = repo.files.get(match["path"])
                if data is None:
                    return self.error(404, "EntryNotFound", "Entry not found")
                return self.file(repo, match["path"], data, body=body)
            self.error(404, None, "Not found")

        def repo(self, repo_id: str, revision: str | None) -> Repo | None:
            repo = hub.repos.get(repo_id)
            if repo is None:
                self.error(404, "RepoNotFound", "Repository not found")
                return None
            if repo.gated:
                self.error(403, "GatedRepo", "Access to model is restricted")
                return None
            if revision not in (None, "main", repo.commit):
                self.error(404, "RevisionNotFound", "Invalid rev id")
                return None
            return repo

        def file(self, repo: Repo, path: str, data: bytes, *, body: bool) -> None:
            start = 0
            if (wanted := self.headers.get("Range")) and (m := re.match(r"bytes=(\d+)-", wanted)):
                start = int(m[1])
            self.send_response(206 if start else 200)
            self.send_header("X-Repo-Commit", repo.commit)
            self.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
            self.send_header("Content-Length", str(len(data) - start))
            if start:
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.end_headers()
            if not body:
                return
            if path == hub.held and not hub.release.is_set():
                self.wfile.write(data[start : len(data) // 2])
                self.wfile.flush()
                hub.holding.set()
                hub.release.wait(60)
                self.close_connection = True
                return
            self.wfile.write(data[start:])

        def json(self, value: object) -> None:
            data = json.dumps(value).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def error(self, status: int, code: str | None, message: str) -> None:
            data = json.dumps({"error": message}).encode()
            self.send_response(status)
            if code is not None:
                self.send_header("X-Error-Code", code)
            self.send_header("X-Error-Message", message)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

    return Handler


def _sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()  # a git blob id


@contextmanager
def serve_hub() -> Iterator[FakeHub]:
    hub = FakeHub()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(hub))
    server.daemon_threads = True
    hub.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hub
    finally:
        hub.release.set()
        server.shutdown()
        server.server_close()
