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

from collections import defaultdict
from dataclasses import dataclass, field

from apps.accounts.scoping import scope_evidence
from apps.evidence.lineage.walk import LineageQueryError, Window, scope_lineage_edges, valid_in, visible_artifacts_q
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

    @property
    def chain_images(self) -> list[Artifact]:
        """The images of the chain: those the release names, else those its commit built."""
        return self.images or self.candidate_images

    @property
    def steps(self) -> list[dict]:
        """commit, build, image, release, deployment: each with a short text ("none" where evidence names
        none) and whether the link into it holds (None for the commit, which nothing links into)."""
        present = [link.present for link in self.links]
        return [
            {"step": "commit", "text": labels(self.commits) or "none", "ok": None},
            {"step": "build", "text": "provenance or pipeline run" if present[0] else "none", "ok": present[0]},
            {"step": "image", "text": labels(self.chain_images) or "none", "ok": present[1]},
            {"step": "release", "text": artifact_label(self.release), "ok": present[2]},
            {"step": "deployment", "text": labels(self.deployments) or "none", "ok": present[3]},
        ]

    @property
    def gaps(self) -> list[str]:
        """Each missing link in plain words, naming the commit or image it is missing for."""
        commits, images, candidates = labels(self.commits), labels(self.chain_images), labels(self.candidate_images)
        words = [
            f"no provenance or pipeline run names commit {commits}" if commits
            else "no commit is known for this release",
            f"no build links image {images} to a commit" if images
            else "no build links an image to a commit (no image is known)",
            f"no payload ties image {candidates} to this release" if candidates
            else "no payload names an image of this release",
            "no deployment names this release or its image",
        ]  # fmt: skip
        return [text for link, text in zip(self.links, words, strict=True) if not link.present]


def artifact_label(artifact: Artifact) -> str:
    """A short readable name: repo@sha (7), image@sha256 (12 hex), repo@tag, environment/id."""
    head, at, tail = artifact.uri.rpartition("@")
    if at:
        name = head.rstrip("/").rsplit("/", 1)[-1]
        if tail.startswith("sha256:"):
            tail = tail[:19]
        elif artifact.kind == Artifact.Kind.COMMIT:
            tail = tail[:7]
        return f"{name}@{tail}"
    if artifact.kind == Artifact.Kind.DEPLOYMENT:
        return "/".join(artifact.uri.split("/")[-2:])
    return artifact.name or artifact.uri


def labels(artifacts: list[Artifact]) -> str:
    """The first artifact's label, and how many more there are ("" for none)."""
    if not artifacts:
        return ""
    more = f" and {len(artifacts) - 1} more" if len(artifacts) > 1 else ""
    return artifact_label(artifacts[0]) + more


def _built(user, artifact_ids) -> set[int]:
    """The artifacts among `artifact_ids` that build evidence the user may see names."""
    evidence = scope_evidence(user, Evidence.objects.filter(kind__in=BUILD_KINDS)).values("pk")
    links = EvidenceSubject.objects.filter(artifact_id__in=list(artifact_ids), evidence__in=evidence)
    return set(links.values_list("artifact_id", flat=True))


def release_chain(*, user, release: Artifact, window: Window | None = None) -> ReleaseChain:
    """The chain of one release the user may see, each link present or missing with its reason.
    `window` (as_of) narrows the deployments to those running then."""
    if release.kind != Artifact.Kind.RELEASE:
        raise LineageQueryError(f"artifact {release.pk} is a {release.kind}, not a release")
    return release_chains(user=user, releases=[release], window=window)[0]


def release_chains(*, user, releases: list[Artifact], window: Window | None = None) -> list[ReleaseChain]:
    """The chains of many releases (in their order), in a fixed number of queries: a page listing
    releases does not make more queries for more releases."""
    if not releases:
        return []
    edges = scope_lineage_edges(user, LineageEdge.objects.all())
    rel_ids = [r.pk for r in releases]
    images: dict[int, set[int]] = defaultdict(set)
    commits: dict[int, set[int]] = defaultdict(set)
    upstream = edges.filter(target_id__in=rel_ids, source__kind__in=[Artifact.Kind.IMAGE, Artifact.Kind.COMMIT],
                            relation__in=["released-from", "built-from"])  # fmt: skip
    for target, source, relation, kind in upstream.values_list("target_id", "source_id", "relation", "source__kind"):
        if kind == Artifact.Kind.IMAGE and relation == "released-from":
            images[target].add(source)
        elif kind == Artifact.Kind.COMMIT:
            commits[target].add(source)
    all_images = set().union(*images.values())
    # The release's commit: its own edge, or the commit its image was built from.
    built_from: dict[int, set[int]] = defaultdict(set)
    if all_images:
        rows = edges.filter(target_id__in=all_images, relation="built-from", source__kind=Artifact.Kind.COMMIT)
        for target, source in rows.values_list("target_id", "source_id"):
            built_from[target].add(source)
    for r in rel_ids:
        for image in images[r]:
            commits[r] |= built_from[image]
    deployments = edges.filter(relation__in=DEPLOYED, source_id__in=[*rel_ids, *all_images],
                               target__kind=Artifact.Kind.DEPLOYMENT)  # fmt: skip
    if window is not None:
        deployments = deployments.filter(valid_in(window))
    deployed: dict[int, set[int]] = defaultdict(set)
    for source, target in deployments.values_list("source_id", "target_id"):
        deployed[source].add(target)
    all_commits = set().union(*commits.values())
    built_images: dict[int, set[int]] = defaultdict(set)  # commit -> images it built
    if all_commits:
        rows = edges.filter(source_id__in=all_commits, relation="built-from", target__kind=Artifact.Kind.IMAGE)
        for source, target in rows.values_list("source_id", "target_id"):
            built_images[source].add(target)
    candidates = {r: set().union(*(built_images[c] for c in commits[r])) - images[r] for r in rel_ids}
    # Upstream of the release, the images it names; where it names none, the images its commit built:
    # their build links still hold, and the missing one is image -> release.
    chain_images = {r: images[r] or candidates[r] for r in rel_ids}
    all_chain_images = set().union(*chain_images.values())
    built = _built(user, all_commits | all_chain_images)
    with_build_edge = set(
        edges.filter(target_id__in=all_chain_images, relation="built-from").values_list("target_id", flat=True)
    )
    wanted = all_commits | all_images | all_chain_images | set().union(*deployed.values())
    by_id = Artifact.objects.in_bulk(list(wanted))
    pick = lambda ids: [by_id[i] for i in sorted(ids) if i in by_id]  # noqa: E731
    chains = []
    for release in releases:
        r = release.pk
        release_built = built & (commits[r] | chain_images[r])
        imaged = (release_built & chain_images[r]) | (with_build_edge & chain_images[r])
        deployment_ids = set(deployed[r]).union(*(deployed[i] for i in images[r]))
        found = [pick(release_built), pick(imaged), pick(images[r]), pick(deployment_ids)]
        links = [
            ChainLink(link=name, present=bool(arts), reason="" if arts else reason, artifacts=arts)
            for (name, reason), arts in zip(LINKS, found, strict=True)
        ]
        chains.append(
            ReleaseChain(
                release=release,
                links=links,
                commits=pick(commits[r]),
                images=pick(images[r]),
                deployments=pick(deployment_ids),
                candidate_images=pick(candidates[r]),
            )
        )
    return chains


def release_chains_for_user(
    *, user, limit: int = 8, system_ids: list[int] | None = None, window: Window | None = None
) -> list[ReleaseChain]:
    """The chains of the latest `limit` releases the user may see (of `system_ids` when given), newest
    first; `window` narrows releases to those seen by its end, and deployments to those running in it."""
    releases = Artifact.objects.filter(kind=Artifact.Kind.RELEASE)
    visible = visible_artifacts_q(user)
    if visible is not None:
        releases = releases.filter(visible)
    if system_ids is not None:
        releases = releases.filter(system_id__in=system_ids)
    if window is not None:
        releases = releases.filter(first_seen__lt=window[1])
    return release_chains(user=user, releases=list(releases.order_by("-first_seen", "-id")[:limit]), window=window)
