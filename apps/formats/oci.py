"""OCI registry JSON (Distribution API v2): pulled image snapshots, tag moves, notifications.

Bodies arrive on the "oci" channel with an event name (Receipt.event):

- ``sync.image``: what the connector (apps.connectors.oci) fetched about one digest::

      {"document": "oci.image/v1", "registry": "registry.example:5000", "repository": "team/app",
       "digest": "sha256:…", "media_type": "<Content-Type of the manifest>",
       "tags": ["1.4.2", "prod"],
       "manifest": <the manifest or index, unchanged>,
       "config": <the image config blob, unchanged> | null,
       "referrers": [<descriptors from the referrers API or the sha256-<hex> tag fallback>]}

- ``sync.tag_move``: ``{"document": "oci.tag-move/v1", "registry", "repository", "tag",
  "previous_digest" (null: a new tag), "digest", "observed_at"}``.
- ``notification``: a Distribution notification envelope ``{"events": [{"id", "timestamp",
  "action" (push|pull|delete|mount), "target": {"mediaType", "digest", "repository", "url",
  "tag", "size"}, "request": {"host", "method", "useragent"}, "actor": {"name"},
  "source": {"addr"}}]}``. Only manifest pushes and deletes become evidence; pulls are access
  events (counted by the notification API, not evidence) and blob events (layers, configs,
  mounts) name no image. A manifest delete marks the image deleted (EvidenceFacts.deleted).

Lineage (upstream -> downstream): commit -built-from-> image (annotations or config labels
org.opencontainers.image.source + .revision), base image -built-from-> image
(org.opencontainers.image.base.name + .base.digest), platform image -contains-> index,
image -deployed-as-> deployment when an environment tag (prod, production, staging, …)
moves to it (``deployment:oci/<registry>/<repository>/<tag>/<digest hex[:12]>``). Deployments end
(issue 20): the tag moving on ends the one before; a delete notification ends every deployment of
the deleted manifest, or of the deleted environment tag.
"""

from __future__ import annotations

import contextlib
from urllib.parse import urlsplit

from .base import (
    MAX_LIST,
    Edge,
    Ending,
    EvidenceFacts,
    ParseError,
    ParseResult,
    Subject,
    arr,
    guard,
    iso,
    load_json_object,
    number,
    obj,
    parse_datetime,
    plural,
    text,
)
from .subjects import commit_from_labels, image_subject, normalize_digest

LABEL = "OCI registry"
FORMAT = "oci"
# Tags that name an environment: moving one is a deployment of that digest there.
ENVIRONMENT_TAGS = {
    "prod": "prod",
    "production": "prod",
    "live": "prod",
    "staging": "staging",
    "stage": "staging",
    "dev": "dev",
    "development": "dev",
}
INDEX_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)
MANIFEST_TYPES = (
    *INDEX_TYPES,
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
)
ATTACHMENT_HINTS = {
    "application/vnd.cyclonedx+json": "sbom",
    "application/spdx+json": "sbom",
    "application/vnd.in-toto+json": "attestation",
    "application/vnd.dsse.envelope.v1+json": "attestation",
    "application/vnd.dev.sigstore.bundle.v0.3+json": "signature",
    "application/vnd.dev.cosign.simplesigning.v1+json": "signature",
    # cosign's tags sha256-<hex>.sig / .att / .sbom (the connector names them with these types)
    "application/vnd.dev.cosign.artifact.sig.v1+json": "signature",
    "application/vnd.dev.cosign.artifact.att.v1+json": "attestation",
    "application/vnd.dev.cosign.artifact.sbom.v1+json": "sbom",
}


def image(registry: str, repository: str, digest: str) -> Subject:
    registry, repository = text(registry, 300).strip(), text(repository, 500).strip()
    if not registry or not repository:
        raise ParseError(f"{LABEL}: registry and repository are required")
    return image_subject(f"{registry}/{repository}", digest)


def deployment_subject(registry: str, repository: str, tag: str, digest: str) -> Subject:
    environment = ENVIRONMENT_TAGS[tag.lower()]
    hexpart = normalize_digest(digest).split(":", 1)[1][:12]
    return Subject(
        kind="deployment",
        uri=f"deployment:oci/{registry.lower()}/{repository.lower()}/{tag.lower()}/{hexpart}",
        name=f"{environment}: {repository}:{tag} @{hexpart}",
    )


def deployment_slot(registry: str, repository: str, tag: str) -> str:
    """Where a tag deploys (its deployment identities without the digest): one image runs there at a time."""
    return deployment_subject(registry, repository, tag, "sha256:" + "0" * 64).uri.rsplit("/", 1)[0]


def _labels(manifest: dict, config: dict) -> dict[str, str]:
    labels = {}
    conf = obj(config.get("config"), "config.config", LABEL) if config else {}
    for source in (
        obj(conf.get("Labels"), "config.config.Labels", LABEL),
        obj(manifest.get("annotations"), "manifest.annotations", LABEL),
    ):
        for key, value in source.items():
            if isinstance(value, str):
                labels[text(key, 200)] = text(value, 500)
    return labels


def _image(doc: dict) -> list[EvidenceFacts]:
    registry, repository = text(doc.get("registry"), 300), text(doc.get("repository"), 500)
    digest = text(doc.get("digest"), 200)
    subject = image(registry, repository, digest)
    manifest = obj(doc.get("manifest"), "manifest", LABEL, required=True)
    config = obj(doc.get("config"), "config", LABEL) if doc.get("config") is not None else {}
    media_type = text(doc.get("media_type") or manifest.get("mediaType"), 200)
    labels = _labels(manifest, config)
    subjects, edges = [subject], []
    commit = commit_from_labels(labels)  # any spelling of the repository, short or long sha
    if commit:
        subjects.append(commit)
        edges.append(Edge(source=commit, target=subject, relation="built-from"))
    base_name, base_digest = (
        labels.get("org.opencontainers.image.base.name", ""),
        labels.get("org.opencontainers.image.base.digest", ""),
    )
    if base_name and base_digest:
        try:
            base = image_subject(base_name, base_digest)
            subjects.append(base)
            edges.append(Edge(source=base, target=subject, relation="built-from"))
        except ParseError:
            pass
    platforms = []
    if media_type in INDEX_TYPES or "manifests" in manifest:
        for index, child in enumerate(arr(manifest.get("manifests"), "manifest.manifests", LABEL)[:200]):
            child = obj(child, f"manifest.manifests[{index}]", LABEL, required=True)
            try:
                child_subject = image(registry, repository, text(child.get("digest"), 200))
            except ParseError:
                continue
            platform = obj(child.get("platform"), f"manifest.manifests[{index}].platform", LABEL)
            platforms.append(f"{text(platform.get('os'), 40)}/{text(platform.get('architecture'), 40)}".strip("/"))
            subjects.append(child_subject)
            edges.append(Edge(source=child_subject, target=subject, relation="contains"))
    layers = [layer for layer in arr(manifest.get("layers"), "manifest.layers", LABEL) if isinstance(layer, dict)]
    size = sum(number(layer.get("size")) or 0 for layer in layers)
    referrers = []
    for index, ref in enumerate(arr(doc.get("referrers"), "referrers", LABEL)[:MAX_LIST]):
        ref = obj(ref, f"referrers[{index}]", LABEL, required=True)
        artifact_type = text(ref.get("artifactType") or ref.get("mediaType"), 200)
        referrers.append(
            {
                "digest": text(ref.get("digest"), 200),
                "artifact_type": artifact_type,
                "kind": ATTACHMENT_HINTS.get(artifact_type, "attachment"),
                "size": number(ref.get("size")),
            }
        )
    tags = [text(t, 128) for t in arr(doc.get("tags"), "tags", LABEL) if isinstance(t, str)]
    created = parse_datetime(config.get("created")) or parse_datetime(labels.get("org.opencontainers.image.created"))
    summary = {
        "registry": registry,
        "repository": repository,
        "digest": subject.digest,
        "media_type": media_type,
        "artifact_type": text(manifest.get("artifactType"), 200),
        "tags": tags[:MAX_LIST],
        "os": text(config.get("os"), 40),
        "architecture": text(config.get("architecture"), 40),
        "platforms": platforms[:MAX_LIST],
        "layers_total": len(layers),
        "size_bytes": size,
        "created": iso(created),
        "labels": dict(list(labels.items())[:MAX_LIST]),
        "commit": commit.uri if commit else "",
        "referrers_total": len(referrers),
        "referrers": referrers,
    }
    shown = f"{repository}:{tags[0]}" if tags else repository
    title = f"Image {text(registry, 100)}/{text(shown, 200)} @{subject.digest[7:19]}"
    if referrers:
        title += f", {plural(len(referrers), 'attached artifact')}"
    return [
        EvidenceFacts(
            kind="image",
            title=title,
            verdict="info",
            verdict_reason="image manifest as the registry serves it",
            effective_at=created,
            subjects=subjects,
            summary=summary,
            edges=edges,
        )
    ]


def _tag_move(doc: dict) -> list[EvidenceFacts]:
    registry, repository = text(doc.get("registry"), 300), text(doc.get("repository"), 500)
    tag = text(doc.get("tag"), 128)
    if not tag:
        raise ParseError(f"{LABEL}: tag is missing")
    new = image(registry, repository, text(doc.get("digest"), 200))
    previous_digest = doc.get("previous_digest")
    subjects, edges = [new], []
    old = None
    if previous_digest:
        old = image(registry, repository, text(previous_digest, 200))
        subjects.append(old)
    if tag.lower() in ENVIRONMENT_TAGS:
        deployment = deployment_subject(registry, repository, tag, new.digest)
        subjects.append(deployment)
        edges.append(Edge(source=new, target=deployment, relation="deployed-as"))
    moved = f"from @{old.digest[7:19]} " if old else "(new tag) "
    return [
        EvidenceFacts(
            kind="tag-move",
            title=f"Tag {text(repository, 200)}:{tag} moved {moved}to @{new.digest[7:19]}",
            verdict="info",
            verdict_reason="a tag now points at another digest" if old else "a new tag",
            effective_at=parse_datetime(doc.get("observed_at")),
            subjects=subjects,
            summary={
                "registry": registry,
                "repository": repository,
                "tag": tag,
                "digest": new.digest,
                "previous_digest": old.digest if old else "",
                "environment": ENVIRONMENT_TAGS.get(tag.lower(), ""),
                "observed_at": text(doc.get("observed_at"), 60),
            },
            edges=edges,
        )
    ]


def notification_event_kind(event: dict) -> str:
    """What a notification event is about: "manifest" or "blob" (layers, configs, mounts).

    Distribution names the object in the target's URL (/manifests/ or /blobs/); without one,
    the media type or a tag says manifest, a mount is always a blob, and a delete by digest
    alone (what the registry sends for a manifest delete) counts as a manifest."""
    target = event.get("target") if isinstance(event.get("target"), dict) else {}
    path = urlsplit(text(target.get("url"), 1000)).path
    if "/blobs/" in path or event.get("action") == "mount":
        return "blob"
    if "/manifests/" in path or target.get("tag") or target.get("mediaType") in MANIFEST_TYPES:
        return "manifest"
    return "blob" if target.get("mediaType") else "manifest"


def _notification(doc: dict) -> list[EvidenceFacts]:
    """Manifest pushes and deletes become evidence; pulls (access events, counted where the envelope
    is accepted) and blob events (layers, configs, mounts: no image of their own) do not."""
    events = arr(doc.get("events"), "events", LABEL, required=True)
    if not events:
        raise ParseError(f"{LABEL}: the notification envelope has no events")
    out = []
    for index, event in enumerate(events[:1000]):
        event = obj(event, f"events[{index}]", LABEL, required=True)
        target = obj(event.get("target"), f"events[{index}].target", LABEL)
        request = obj(event.get("request"), f"events[{index}].request", LABEL)
        actor = obj(event.get("actor"), f"events[{index}].actor", LABEL)
        action = text(event.get("action"), 20) or "unknown"
        if action == "pull" or notification_event_kind(event) == "blob":
            continue
        repository = text(target.get("repository"), 500)
        digest = text(target.get("digest"), 200)
        host = urlsplit(text(target.get("url"), 1000)).netloc or text(request.get("host"), 300)
        subjects = []
        if repository and digest and host:
            with contextlib.suppress(ParseError):
                subjects.append(image(host, repository, digest))
        tag = text(target.get("tag"), 128)
        ends, deleted = [], []
        if action == "delete" and repository and host:
            # A deleted manifest runs nowhere any more; a deleted environment tag deploys nothing.
            if subjects and not tag:
                ends.append(Ending(source=subjects[0].uri))
                deleted.append(subjects[0].uri)
            if tag.lower() in ENVIRONMENT_TAGS:
                with contextlib.suppress(ParseError):
                    ends.append(Ending(slot=deployment_slot(host, repository, tag)))
        shown = f"{repository}:{tag}" if tag else repository or "(no repository)"
        out.append(
            EvidenceFacts(
                kind="registry-event",
                title=f"Registry {action} of {text(shown, 200)}"
                + (f" @{digest[7:19]}" if digest.startswith("sha256:") else ""),
                verdict="info",
                verdict_reason="Distribution registry notification",
                effective_at=parse_datetime(event.get("timestamp")),
                subjects=subjects,
                summary={
                    "id": text(event.get("id"), 100),
                    "action": action,
                    "registry": host,
                    "repository": repository,
                    "tag": tag,
                    "digest": digest,
                    "media_type": text(target.get("mediaType"), 200),
                    "size": number(target.get("size")),
                    "actor": text(actor.get("name"), 200),
                    "method": text(request.get("method"), 10),
                    "user_agent": text(request.get("useragent"), 200),
                    "addr": text(obj(event.get("source"), f"events[{index}].source", LABEL).get("addr"), 100),
                },
                ends=ends,
                deleted=deleted,
            )
        )
    return out


@guard(LABEL)
def parse_oci(event: str, body: bytes) -> ParseResult:
    """One registry document (see the module docstring for the events)."""
    doc = load_json_object(body, LABEL)
    event = text(event, 100)
    if event == "sync.image":
        evidence = _image(doc)
    elif event == "sync.tag_move":
        evidence = _tag_move(doc)
    elif event == "notification" or "events" in doc:
        evidence = _notification(doc)
    else:
        raise ParseError(f"{LABEL}: event {event[:60]!r} is not sync.image, sync.tag_move or notification")
    return ParseResult(format=FORMAT, evidence=evidence)
