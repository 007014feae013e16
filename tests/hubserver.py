"""hubserver.py: a fake Hugging Face Hub on 127.0.0.1 (stdlib only), for offline tests of publishing and
downloading.

It implements the endpoints `HfApi.create_repo` + `upload_folder` call (create, validate-yaml, preupload
answering "regular" so no LFS/Xet upload is attempted, NDJSON commit) and the `resolve` downloads of
`hf_hub_download` (HEAD/GET with `X-Repo-Commit` and `ETag`). Every request is recorded for assertions.
Point a subprocess at it with `HF_ENDPOINT=hub.url` (huggingface_hub reads the variable at import time).
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]  # names lowercased
    body: bytes


@dataclass
class Repo:
    files: dict[str, bytes] = field(default_factory=dict)
    commits: list[str] = field(default_factory=list)  # commit ids, oldest first
    private: bool = False

    @property
    def head(self) -> str:
        return self.commits[-1] if self.commits else "0" * 40


class FakeHub:
    """`with FakeHub() as hub:` serves on `hub.url`; uploaded files land in `hub.repos[repo_id].files`."""

    def __init__(self) -> None:
        self.repos: dict[str, Repo] = {}
        self.requests: list[Request] = []
        self.refused_tokens: set[str] = set()  # requests with these tokens get 401 Unauthorized
        self._lock = threading.Lock()
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # keep test output quiet
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                request = Request(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                with hub._lock:
                    hub.requests.append(request)
                    status, headers, payload = hub.respond(request)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-hub", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FakeHub:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    # ------------------------------------------------------------------ routing
    def respond(self, request: Request) -> tuple[int, dict[str, str], bytes]:
        parts = [unquote(p) for p in urlsplit(request.path).path.strip("/").split("/")]
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        if token in self.refused_tokens:
            return _error(401, "Unauthorized", "Invalid credentials in Authorization header")
        if request.method == "POST" and parts[:3] == ["api", "repos", "create"]:
            return self._create(json.loads(request.body or b"{}"))
        if request.method == "POST" and parts[:2] == ["api", "validate-yaml"]:
            return _json({"errors": [], "warnings": []})
        if request.method == "POST" and len(parts) >= 6 and parts[:2] == ["api", "models"]:
            repo_id, action = f"{parts[2]}/{parts[3]}", parts[4]
            if repo_id not in self.repos:
                return _error(404, "RepoNotFound", f"Repository {repo_id} not found")
            if action == "preupload":
                files = json.loads(request.body)["files"]
                return _json(
                    {
                        "files": [
                            {"path": f["path"], "uploadMode": "regular", "shouldIgnore": False, "oid": None}
                            for f in files
                        ]
                    }
                )
            if action == "commit":
                return self._commit(repo_id, request.body)
        if request.method in ("HEAD", "GET") and len(parts) >= 5 and parts[2] == "resolve":
            return self._resolve(f"{parts[0]}/{parts[1]}", "/".join(parts[4:]))
        return _error(404, "EntryNotFound", f"fake hub: no route for {request.method} {request.path}")

    def _create(self, payload: dict) -> tuple[int, dict[str, str], bytes]:
        repo_id = "/".join(p for p in (payload.get("organization"), payload["name"]) if p)
        repo = self.repos.setdefault(repo_id, Repo())
        repo.private = payload.get("visibility") == "private" or bool(payload.get("private"))
        return _json({"url": f"{self.url}/{repo_id}", "name": repo_id})

    def _commit(self, repo_id: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        repo = self.repos[repo_id]
        lines = [json.loads(line) for line in body.decode("utf-8").splitlines() if line.strip()]
        if not lines or lines[0].get("key") != "header":
            return _error(400, "BadRequest", "the commit payload must start with a header line")
        for line in lines[1:]:
            value = line["value"]
            if line["key"] == "file" and value.get("encoding") == "base64":
                repo.files[value["path"]] = base64.b64decode(value["content"])
            elif line["key"] == "deletedFile":
                repo.files.pop(value["path"], None)
            else:
                return _error(400, "BadRequest", f"fake hub: unsupported commit operation {line['key']!r}")
        digest = hashlib.sha1(body).hexdigest()
        repo.commits.append(digest)
        return _json({"commitUrl": f"{self.url}/{repo_id}/commit/{digest}", "commitOid": digest, "success": True})

    def _resolve(self, repo_id: str, filename: str) -> tuple[int, dict[str, str], bytes]:
        repo = self.repos.get(repo_id)
        if repo is None:
            return _error(404, "RepoNotFound", f"Repository {repo_id} not found")
        if filename not in repo.files:
            return _error(404, "EntryNotFound", f"{filename} does not exist", {"X-Repo-Commit": repo.head})
        content = repo.files[filename]
        etag = hashlib.sha256(content).hexdigest()
        headers = {"X-Repo-Commit": repo.head, "ETag": f'"{etag}"', "Content-Type": "application/octet-stream"}
        return 200, headers, content


def _json(payload: dict, status: int = 200) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/json"}, json.dumps(payload).encode()


def _error(status: int, code: str, message: str, extra: dict[str, str] | None = None):
    headers = {"Content-Type": "application/json", "X-Error-Code": code, "X-Error-Message": message, **(extra or {})}
    return status, headers, json.dumps({"error": message}).encode()
