"""OCI registries through the Distribution API v2.

Each sync walks the configured repositories (option "repositories", else /v2/_catalog),
their tags (/v2/<repo>/tags/list, paginated by Link headers) and resolves each tag to a
digest with one HEAD on the manifest (Accept: OCI and Docker manifest and index types).

- A tagged manifest that names a ``subject`` (OCI 1.1: what ``oras attach`` / ``oras push --subject``
  leave, e.g. ``team/app:sbom-1.0``) is an artifact attached to that subject, not an image: no
  tag move, no image; it is listed among its subject's referrers (with its ``artifactType``) even
  when the registry has neither the referrers API nor a ``sha256-<hex>`` fallback index.
- A tag pointing at another digest than the cursor says → ``sync.tag_move`` document.
- A digest not seen before → its manifest (and image config) → ``sync.image`` document.
- For every tagged digest, its attached artifacts: the OCI 1.1 referrers API
  (/v2/<repo>/referrers/<digest>), else the referrers tag schema (the index under the tag
  ``sha256-<hex>``), plus cosign's ``sha256-<hex>.sig|.att|.sbom`` tags (kinds signature,
  attestation, sbom). Each referrer not seen before is fetched (manifest, then its first layer: the SBOM, attestation or
  signature) and kept as a file about the image (channel pull), parsed by the existing
  parsers (CycloneDX, SPDX, in-toto…) like an upload naming the image as subject.

Cursor: {"tags": {"<repo>": {"<tag>": "<digest>"}}, "images": {"<repo>": [digests]},
"referrers": {"<repo>@<digest>": [referrer digests]}, "attached": {"<repo>": {"<artifact digest>":
<its referrer descriptor with "subject">}}}. Options: {"repositories": [...],
"registry_host": "name used in identities" (default: the endpoint's host:port)}.
"""

from __future__ import annotations

import hashlib
import re
from urllib.parse import urlsplit

from django.utils import timezone

from apps.connectors.base import Connector, ConnectorError, Document, Emit, json_document

MANIFEST_TYPES = (
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)
ACCEPT = {"Accept": ", ".join(MANIFEST_TYPES)}
INDEX_ACCEPT = {"Accept": "application/vnd.oci.image.index.v1+json"}
CONFIG_TYPES = ("application/vnd.oci.image.config.v1+json", "application/vnd.docker.container.image.v1+json")
REFERRER_TAG = re.compile(r"^sha256-([0-9a-f]{64})(\.(sig|att|sbom))?$")
# What cosign's tags hold (cosign's own artifact types where it has them, so the kind is right).
COSIGN_TYPES = {
    "sig": "application/vnd.dev.cosign.artifact.sig.v1+json",
    "att": "application/vnd.dev.cosign.artifact.att.v1+json",
    "sbom": "application/vnd.dev.cosign.artifact.sbom.v1+json",
}
PAGE = 200
MAX_PAGES = 500
MAX_REPOSITORIES = 1000


def _next_link(headers: dict) -> str:
    match = re.search(r"<([^>]+)>\s*;\s*rel=\"?next\"?", headers.get("link", ""))
    return match.group(1) if match else ""


class OciConnector(Connector):
    kind = "oci"

    @property
    def registry_host(self) -> str:
        return self.options.get("registry_host") or urlsplit(self.endpoint).netloc

    def _paged(self, path: str, key: str) -> list[str]:
        items, url = [], f"{path}?n={PAGE}"
        for _ in range(MAX_PAGES):
            response = self.http.get(url, ok=(200, 404))
            if response.status == 404:
                return items
            items += response.json().get(key) or []
            url = _next_link(response.headers)
            if not url:
                return items
        raise ConnectorError(f"{path}: more than {MAX_PAGES} pages")

    def _repositories(self) -> list[str]:
        configured = self.options.get("repositories") or []
        if configured:
            return list(configured)[:MAX_REPOSITORIES]
        return self._paged("v2/_catalog", "repositories")[:MAX_REPOSITORIES]

    def _resolve(self, repo: str, reference: str) -> str:
        response = self.http.head(f"v2/{repo}/manifests/{reference}", headers=ACCEPT)
        digest = response.headers.get("docker-content-digest", "")
        if response.status == 200 and digest:
            return digest
        if response.status in (200, 405):  # no digest header, or HEAD refused: GET and hash
            return self._manifest(repo, reference)[1]
        raise ConnectorError(f"HEAD v2/{repo}/manifests/{reference} answered {response.status}")

    def _manifest(self, repo: str, reference: str, accept: dict = ACCEPT) -> tuple[dict, str, str, bytes]:
        response = self.http.get(f"v2/{repo}/manifests/{reference}", headers=accept)
        digest = "sha256:" + hashlib.sha256(response.body).hexdigest()
        if reference.startswith("sha256:") and reference != digest:
            raise ConnectorError(f"{repo}@{reference}: the manifest served does not hash to its digest")
        return response.json(), digest, response.headers.get("content-type", ""), response.body

    def sync(self, cursor: dict, emit: Emit) -> dict:
        tags_seen = {k: dict(v) for k, v in (cursor.get("tags") or {}).items()}
        images_seen = {k: set(v) for k, v in (cursor.get("images") or {}).items()}
        referrers_seen = {k: set(v) for k, v in (cursor.get("referrers") or {}).items()}
        attached_seen = {k: dict(v) for k, v in (cursor.get("attached") or {}).items()}
        now = timezone.now().isoformat()
        host = self.registry_host
        for repo in self._repositories():
            tags = self._paged(f"v2/{repo}/tags/list", "tags")
            plain = sorted(t for t in tags if not REFERRER_TAG.match(t))
            attached_tags = {t for t in tags if REFERRER_TAG.match(t)}
            before = tags_seen.get(repo, {})
            images = images_seen.setdefault(repo, set())
            attached = attached_seen.setdefault(repo, {})
            current = {tag: self._resolve(repo, tag) for tag in plain}
            # A tagged manifest with a `subject` is an artifact attached to that subject (oras attach,
            # oras push --subject), not an image: read each new digest's manifest once to tell.
            for digest in sorted(set(current.values()) - images - set(attached)):
                descriptor = self._attachment(repo, digest)
                if descriptor:
                    attached[digest] = descriptor
            for tag, digest in current.items():
                if digest in attached or before.get(tag) == digest:
                    continue
                emit(
                    json_document(
                        "oci",
                        "sync.tag_move",
                        {
                            "document": "oci.tag-move/v1",
                            "registry": host,
                            "repository": repo,
                            "tag": tag,
                            "previous_digest": before.get(tag),
                            "digest": digest,
                            "observed_at": now,
                        },
                        key=f"{repo}:{tag}",
                    )
                )
            tagged_attachments: dict[str, list[dict]] = {}
            for digest, descriptor in attached.items():
                if digest in current.values():
                    tagged_attachments.setdefault(descriptor["subject"], []).append(descriptor)
            image_digests = {d for d in current.values() if d not in attached} | set(tagged_attachments)
            for digest in sorted(image_digests):
                key = f"{repo}@{digest}"
                referrers = self._referrers(repo, digest, attached_tags)
                listed = {r["digest"] for r in referrers}
                referrers += [
                    {k: v for k, v in d.items() if k != "subject"}
                    for d in tagged_attachments.get(digest, [])
                    if d["digest"] not in listed
                ]
                known = referrers_seen.get(key, set())
                new_referrers = [r for r in referrers if r.get("digest") not in known]
                if digest not in images or new_referrers:
                    self._emit_image(
                        repo, digest, sorted(t for t, d in current.items() if d == digest), referrers, emit
                    )
                    images.add(digest)
                for referrer in new_referrers:
                    self._emit_referrer(repo, digest, referrer, emit)
                referrers_seen[key] = known | {r.get("digest") for r in referrers}
            tags_seen[repo] = current
        return {
            "tags": tags_seen,
            "images": {k: sorted(v) for k, v in images_seen.items()},
            "referrers": {k: sorted(v) for k, v in referrers_seen.items()},
            "attached": attached_seen,
        }

    def _attachment(self, repo: str, digest: str) -> dict | None:
        """The referrer descriptor of a manifest that names a `subject` (OCI 1.1), else None (an image)."""
        manifest, _, media_type, body = self._manifest(repo, digest)
        subject = manifest.get("subject")
        if not isinstance(subject, dict) or not isinstance(subject.get("digest"), str):
            return None
        config = manifest.get("config") if isinstance(manifest.get("config"), dict) else {}
        # OCI image-spec 1.1: artifactType, else the config's media type unless it is the empty one.
        artifact_type = manifest.get("artifactType") or (
            config.get("mediaType") if config.get("mediaType") != "application/vnd.oci.empty.v1+json" else ""
        )
        return {
            "digest": digest,
            "mediaType": media_type or manifest.get("mediaType", ""),
            "artifactType": str(artifact_type or "")[:200],
            "size": len(body),
            "subject": subject["digest"],
        }

    def _referrers(self, repo: str, digest: str, attached_tags: set[str]) -> list[dict]:
        response = self.http.get(f"v2/{repo}/referrers/{digest}", headers=INDEX_ACCEPT, ok=(200, 404, 400))
        descriptors = []
        if response.status == 200 and "json" in response.headers.get("content-type", ""):
            descriptors = response.json().get("manifests") or []
        else:  # the registry has no referrers API: the tag schema fallback of OCI distribution-spec 1.1
            hexpart = digest.split(":", 1)[1]
            fallback = f"sha256-{hexpart}"
            if fallback in attached_tags:
                index, _, _, _ = self._manifest(repo, fallback)
                descriptors = index.get("manifests") or []
            for suffix in ("sig", "att", "sbom"):  # cosign's own tags
                if f"{fallback}.{suffix}" in attached_tags:
                    _, manifest_digest, media_type, body = self._manifest(repo, f"{fallback}.{suffix}")
                    descriptors.append(
                        {
                            "digest": manifest_digest,
                            "mediaType": media_type,
                            "artifactType": COSIGN_TYPES[suffix],
                            "size": len(body),
                        }
                    )
        return [d for d in descriptors if isinstance(d, dict) and isinstance(d.get("digest"), str)]

    def _emit_image(self, repo: str, digest: str, tags: list[str], referrers: list[dict], emit: Emit) -> None:
        manifest, _, media_type, _ = self._manifest(repo, digest)
        config = None
        descriptor = manifest.get("config") or {}
        if descriptor.get("mediaType") in CONFIG_TYPES and int(descriptor.get("size") or 0) < 4 * 1024 * 1024:
            config = self.http.get(f"v2/{repo}/blobs/{descriptor['digest']}").json()
        emit(
            json_document(
                "oci",
                "sync.image",
                {
                    "document": "oci.image/v1",
                    "registry": self.registry_host,
                    "repository": repo,
                    "digest": digest,
                    "media_type": media_type or manifest.get("mediaType", ""),
                    "tags": tags,
                    "manifest": manifest,
                    "config": config,
                    "referrers": referrers,
                },
                key=f"{repo}@{digest}",
            )
        )

    def _emit_referrer(self, repo: str, subject_digest: str, referrer: dict, emit: Emit) -> None:
        manifest, _, _, _ = self._manifest(repo, referrer["digest"])
        layers = [layer for layer in manifest.get("layers") or [] if isinstance(layer, dict) and layer.get("digest")]
        if not layers:
            return
        layer = layers[0]
        blob = self.http.get(f"v2/{repo}/blobs/{layer['digest']}")
        if "sha256:" + hashlib.sha256(blob.body).hexdigest() != layer["digest"]:
            raise ConnectorError(f"{repo}: blob {layer['digest']} does not hash to its digest")
        annotations = layer.get("annotations") or {}
        title = annotations.get("org.opencontainers.image.title") or layer["digest"].replace(":", "-")
        emit(
            Document(
                channel="pull",
                event="oci.referrer",
                body=blob.body,
                subject=f"oci://{self.registry_host}/{repo}@{subject_digest}",
                filename=str(title)[:200],
                content_type=str(layer.get("mediaType") or "application/octet-stream")[:200],
                key=f"{repo}@{subject_digest}<-{referrer['digest']}",
            )
        )
