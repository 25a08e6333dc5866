"""What every pull connector shares: the documents it hands over, errors, and a small HTTP client.

A connector is given the source's endpoint, decrypted credentials, options and cursor; it
fetches, and hands every document it wants kept to `emit` (the sync service accepts each
one as a Receipt at once, so a failure half-way keeps what was fetched). It returns the
new cursor, which the service stores only when the sync succeeds; the next sync starts
from the last good cursor, and documents fetched twice are replays (same delivery key).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlencode, urljoin, urlsplit

import urllib3


class ConnectorError(Exception):
    """The endpoint could not be read; the message says what to fix (shown on the source page)."""


@dataclass(frozen=True)
class Document:
    """One fetched body to keep as a Receipt: JSON of the system (channel = source kind) or a file (channel pull)."""

    channel: str
    event: str
    body: bytes
    subject: str = ""
    format_hint: str = ""
    filename: str = ""
    content_type: str = "application/json"
    key: str = ""  # what identifies it (with the body's hash it forms the delivery key)

    @property
    def delivery_key(self) -> str:
        digest = hashlib.sha256(self.body).hexdigest()
        return f"pull:{self.event or self.channel}:{self.key[:80]}:{digest}"[:200]


def json_document(channel: str, event: str, doc: dict, *, key: str = "") -> Document:
    # Sorted keys: the same facts fetched twice give the same bytes, hence the same delivery key.
    body = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    return Document(channel=channel, event=event, body=body, key=key)


Emit = Callable[[Document], None]


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise ConnectorError(f"the answer is not JSON ({exc})"[:300]) from None


@dataclass
class HttpClient:
    """GETs against one endpoint with a timeout, a size cap, and basic or bearer credentials.

    `credentials` is {"username", "password"} (HTTP basic; for a registry also used to get a
    bearer token from the realm a 401 names) or {"token"} (sent as a bearer token).
    """

    base_url: str
    credentials: dict = field(default_factory=dict)
    timeout: float = 20.0
    max_bytes: int = 25 * 1024 * 1024
    _pool: urllib3.PoolManager | None = None
    _bearer: str = ""

    def __post_init__(self):
        if not self.base_url.startswith(("http://", "https://")):
            raise ConnectorError(f"endpoint {self.base_url[:100]!r} must be an http(s) URL")
        self.base_url = self.base_url.rstrip("/") + "/"
        self._pool = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=min(5.0, self.timeout), read=self.timeout),
            retries=urllib3.Retry(total=2, backoff_factor=0.5, status_forcelist=(502, 503, 504), redirect=3),
        )

    def _auth_header(self) -> dict[str, str]:
        if self._bearer:
            return {"Authorization": f"Bearer {self._bearer}"}
        if self.credentials.get("token"):
            return {"Authorization": f"Bearer {self.credentials['token']}"}
        if self.credentials.get("username"):
            pair = f"{self.credentials['username']}:{self.credentials.get('password', '')}"
            return {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}
        return {}

    def url(self, path: str, params: dict | None = None) -> str:
        url = urljoin(self.base_url, path.lstrip("/")) if not path.startswith(("http://", "https://")) else path
        if params:
            url += ("&" if "?" in url else "?") + urlencode({k: v for k, v in params.items() if v not in (None, "")})
        return url

    def request(self, method: str, path: str, *, params: dict | None = None, headers: dict | None = None) -> Response:
        url = self.url(path, params)
        # Never send our credentials to another host than the configured endpoint.
        same_host = urlsplit(url).netloc == urlsplit(self.base_url).netloc
        sent = {**(self._auth_header() if same_host else {}), **(headers or {})}
        try:
            raw = self._pool.request(method, url, headers=sent, preload_content=False, redirect=True)
            body = raw.read(self.max_bytes + 1, decode_content=True) if method != "HEAD" else b""
            raw.release_conn()
        except urllib3.exceptions.HTTPError as exc:
            raise ConnectorError(f"{method} {_redact(url)}: {type(exc).__name__}: {exc}"[:500]) from None
        if len(body) > self.max_bytes:
            raise ConnectorError(f"{method} {_redact(url)}: the answer is larger than {self.max_bytes} bytes")
        return Response(status=raw.status, headers={k.lower(): v for k, v in raw.headers.items()}, body=body)

    def get(self, path: str, *, params: dict | None = None, headers: dict | None = None, ok=(200,)) -> Response:
        response = self.request("GET", path, params=params, headers=headers)
        if response.status == 401 and self._token_from_challenge(response):
            response = self.request("GET", path, params=params, headers=headers)
        if response.status not in ok:
            raise ConnectorError(_status_message("GET", self.url(path, params), response))
        return response

    def head(self, path: str, *, headers: dict | None = None) -> Response:
        response = self.request("HEAD", path, headers=headers)
        if response.status == 401 and self._token_from_challenge(response):
            response = self.request("HEAD", path, headers=headers)
        return response

    def _token_from_challenge(self, response: Response) -> bool:
        """Distribution token auth: a 401 names a realm that trades our credentials for a bearer token."""
        challenge = response.headers.get("www-authenticate", "")
        if not challenge.lower().startswith("bearer ") or self._bearer:
            return False
        fields = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
        realm = fields.pop("realm", "")
        if not realm.startswith(("http://", "https://")):
            return False
        headers = {}
        if self.credentials.get("username"):
            pair = f"{self.credentials['username']}:{self.credentials.get('password', '')}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        try:
            raw = self._pool.request("GET", realm + "?" + urlencode(fields), headers=headers)
        except urllib3.exceptions.HTTPError as exc:
            raise ConnectorError(f"token realm {_redact(realm)}: {exc}"[:300]) from None
        if raw.status != 200:
            raise ConnectorError(f"token realm {_redact(realm)} answered {raw.status}: check the credentials")
        try:
            answer = json.loads(raw.data)
        except ValueError:
            raise ConnectorError(f"token realm {_redact(realm)} did not answer JSON") from None
        self._bearer = answer.get("token") or answer.get("access_token") or ""
        return bool(self._bearer)


def _redact(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path}"


def _status_message(method: str, url: str, response: Response) -> str:
    detail = response.body[:300].decode("utf-8", "replace").strip()
    hint = {401: " (check the credentials)", 403: " (the credentials may not read this)", 404: " (not found)"}.get(
        response.status, ""
    )
    return f"{method} {_redact(url)} answered {response.status}{hint}: {detail}"[:600]


class Connector:
    """Base of the pull connectors; subclasses implement `sync`."""

    kind: str = ""

    def __init__(self, *, endpoint: str, credentials: dict, options: dict, timeout: float, max_bytes: int):
        self.endpoint = endpoint
        self.options = options or {}
        self.http = HttpClient(endpoint, credentials or {}, timeout=timeout, max_bytes=max_bytes)

    def sync(self, cursor: dict, emit: Emit) -> dict:
        """Fetch what changed since `cursor`, hand each document to `emit`; return the new cursor."""
        raise NotImplementedError
