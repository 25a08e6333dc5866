"""The release chain (issue 20, hole 3): commit -> build -> image -> release -> deployment, per release.

Each link holds only where evidence stated it; a link no payload stated is reported missing with
the reason, never inferred:

| link                  | holds when                                                              |
| --------------------- | ----------------------------------------------------------------------- |
| commit -> build       | a provenance, pipeline-run or job evidence names the release's commit   |
|                       | or its image                                                            |
| build -> image        | an image of the release has provenance about it, or a commit            |
|                       | -built-from-> edge into it (OCI revision label, provenance subject)     |
| image -> release      | an image -released-from-> the release (release notes or a deployment    |
|                       | payload naming the image digest)                                        |
| release -> deployment | the release or its image -deployed-from-> a deployment (a deployment   |
|                       | payload naming the release tag or image), valid in the window           |

The release's commit is its commit -released-from-> edge, or the commit its image was built from.
An image the release's commit built, but that nothing tied to the release, is a candidate: shown,
and its build links count, but image -> release stays missing. Edges are those the user may
follow (scope_lineage_edges).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from apps.accounts.scoping import scope_evidence
from apps.evidence.lineage.walk import LineageQueryError, Window, scope_lineage_edges, valid_in
from apps.evidence.models import Artifact, Evidence, EvidenceSubject, LineageEdge

BUILD_KINDS = ("provenance", "pipeline-run", "job")
LINKS = (
    ("commit -> build", "no provenance or pipeline run named the commit"),
    ("build -> image", "no provenance subject or OCI revision label named the image"),
    ("image -> release", "no payload named the image digest"),
    ("release -> deployment", "no deployment payload named the release tag or its image"),
)
DEPLOYED = ("deployed-from", "deployed-as")


@dataclass
class ChainLink:
    link: str
    present: bool
    reason: str = ""  # why it is missing ("" when present)
    artifacts: list[Artifact] = field(default_factory=list)

    @property
    def line(self) -> str:
        return f"{self.link} ({self.reason})"


@dataclass
class ReleaseChain:
    release: Artifact
    links: list[ChainLink]
    commits: list[Artifact]
    images: list[Artifact]
    deployments: list[Artifact]
    candidate_images: list[Artifact]

    @property
    def complete(self) -> bool:
        return all(link.present for link in self.links)

    @property
    def missing(self) -> list[str]:
        return [link.line for link in self.links if not link.present]


def _sources(edges, target_ids, relations, kind: str) -> list[int]:
    rows = edges.filter(target_id__in=target_ids, relation__in=relations, source__kind=kind)
    return sorted(set(rows.values_list("source_id", flat=True)))


def _built(user, artifact_ids: list[int]) -> set[int]:
    """The artifacts among `artifact_ids` that build evidence the user may see names."""
    evidence = scope_evidence(user, Evidence.objects.filter(kind__in=BUILD_KINDS)).values("pk")
    links = EvidenceSubject.objects.filter(artifact_id__in=artifact_ids, evidence__in=evidence)
    return set(links.values_list("artifact_id", flat=True))


def release_chain(*, user, release: Artifact, window: Window | None = None) -> ReleaseChain:
    """The chain of one release the user may see, each link present or missing with its reason.
    `window` (as_of) narrows the deployments to those running then."""
    if release.kind != Artifact.Kind.RELEASE:
        raise LineageQueryError(f"artifact {release.pk} is a {release.kind}, not a release")
    edges = scope_lineage_edges(user, LineageEdge.objects.all())
    image_ids = _sources(edges, [release.pk], ["released-from"], Artifact.Kind.IMAGE)
    commit_ids = set(_sources(edges, [release.pk], ["released-from", "built-from"], Artifact.Kind.COMMIT))
    built_into = set(_sources(edges, image_ids, ["built-from"], Artifact.Kind.COMMIT)) if image_ids else set()
    commit_ids |= built_into
    commit_ids = sorted(commit_ids)
    deployments = edges.filter(relation__in=DEPLOYED, source_id__in=[release.pk, *image_ids],
                               target__kind=Artifact.Kind.DEPLOYMENT)  # fmt: skip
    if window is not None:
        deployments = deployments.filter(valid_in(window))
    deployment_ids = sorted(set(deployments.values_list("target_id", flat=True)))
    candidates = (
        edges.filter(source_id__in=commit_ids, relation="built-from", target__kind=Artifact.Kind.IMAGE)
        .exclude(target_id__in=image_ids)
        .values_list("target_id", flat=True)
    )
    candidate_ids = sorted(set(candidates))
    # Upstream of the release, the images it names; where it names none, the images its commit built:
    # their build links still hold, and the missing one is image -> release.
    chain_images = image_ids or candidate_ids
    built = _built(user, [*commit_ids, *chain_images])
    imaged = set(built) & set(chain_images)
    imaged |= set(edges.filter(target_id__in=chain_images, relation="built-from").values_list("target_id", flat=True))

    by_id = Artifact.objects.in_bulk([*commit_ids, *image_ids, *deployment_ids, *candidate_ids])
    pick = lambda ids: [by_id[i] for i in ids if i in by_id]  # noqa: E731
    present = [
        bool(built),
        bool(imaged),
        bool(image_ids),
        bool(deployment_ids),
    ]
    artifacts = [pick(sorted(built)), pick(sorted(imaged)), pick(image_ids), pick(deployment_ids)]
    links = [
        ChainLink(link=name, present=ok, reason="" if ok else reason, artifacts=found if ok else [])
        for (name, reason), ok, found in zip(LINKS, present, artifacts, strict=True)
    ]
    return ReleaseChain(
        release=release,
        links=links,
        commits=pick(commit_ids),
        images=pick(image_ids),
        deployments=pick(deployment_ids),
        candidate_images=pick(candidate_ids),
    )
