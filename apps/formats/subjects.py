"""Canonical identities for the things evidence is about.

The same commit seen in a GitHub run, a JUnit upload and a provenance attestation
must get the identical `uri`, so every parser builds subjects through these helpers.

Canonical forms:

- commit      git+https://github.com/org/repo@<40 or 64 lowercase hex>
              (an abbreviated sha, 7-39 hex, keeps its short form here; the evidence
              layer joins it to its full sha in the same repository when unambiguous)
              (host lowercased, `.git` and trailing `/` dropped, ssh and scp-style
              remotes turned into https; owner/repo lowercased on github.com and
              gitlab.com, whose paths are case-insensitive)
- image       oci://registry/repository@sha256:<64 hex> (registry and repository
              lowercased, tags dropped, Docker Hub short names expanded to
              docker.io/library/...)
- package     a purl, normalized per the purl spec type rules for pypi, npm, github,
              bitbucket and golang (case, `_` to `-` for pypi, sorted qualifiers)
- model-version mlflow://<model>/<version>
- dataset     dataset:sha256:<64 hex>
- file        file:sha256:<64 hex> (name kept only as the display name)
- release     release:<repo url>@<tag>
- deployment  deployment:<repo url>/<environment>/<id>
- other       the text, stripped
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote, unquote

from .base import Edge, ParseError, Subject

MAX_URI = 2048

_HEX = re.compile(r"^[0-9a-fA-F]+$")
_DIGEST = re.compile(r"^(sha256|sha384|sha512|sha1|md5):([0-9a-fA-F]+)$", re.IGNORECASE)
# md5: DVC identifies data versions by md5 only.
_DIGEST_LENGTHS = {"md5": 32, "sha1": 40, "sha256": 64, "sha384": 96, "sha512": 128}
_CASE_INSENSITIVE_HOSTS = {"github.com", "www.github.com", "gitlab.com", "www.gitlab.com"}
_SCP_REMOTE = re.compile(r"^(?:[\w.-]+@)?([\w.-]+):(?!//)(.+)$")
_REGISTRY_REF = re.compile(r"^[a-z0-9][a-z0-9._:/@-]*$", re.IGNORECASE)


def _check_text(text: str) -> str:
    if not isinstance(text, str):
        raise ParseError(f"subject: expected text, got {type(text).__name__}")
    stripped = text.strip()
    if not stripped:
        raise ParseError("subject: the identity is empty")
    if len(stripped) > MAX_URI:
        raise ParseError(f"subject: the identity is {len(stripped)} characters long; the limit is {MAX_URI}")
    for char in stripped:
        if unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp") or char in "\t\n\r":
            raise ParseError(f"subject: the identity contains the control character {char!r}; remove it")
    return stripped


def is_sha(value: str) -> bool:
    """A full git object id: 40 (SHA-1) or 64 (SHA-256) hex digits."""
    return isinstance(value, str) and len(value) in (40, 64) and bool(_HEX.match(value))


def is_null_sha(value: str) -> bool:
    return is_sha(value) and set(value) == {"0"}


def normalize_digest(digest: str) -> str:
    """'SHA256:ABC…' -> 'sha256:abc…'; ParseError unless algorithm and length agree."""
    match = _DIGEST.match(digest.strip()) if isinstance(digest, str) else None
    if not match:
        raise ParseError(f"subject: digest {str(digest)[:100]!r} is not of the form sha256:<hex>")
    algo, hexpart = match.group(1).lower(), match.group(2).lower()
    if len(hexpart) != _DIGEST_LENGTHS[algo]:
        raise ParseError(f"subject: {algo} digest must have {_DIGEST_LENGTHS[algo]} hex digits, got {len(hexpart)}")
    return f"{algo}:{hexpart}"


def normalize_repo_url(repo_url: str) -> str:
    """A clone or web URL of a repository in one canonical https form (no `.git`)."""
    url = _check_text(repo_url)
    if url.startswith("git+"):
        url = url[4:]
    if "://" not in url:
        scp = _SCP_REMOTE.match(url)
        url = f"https://{scp.group(1)}/{scp.group(2)}" if scp and "/" not in scp.group(1) else "https://" + url
    scheme, _, rest = url.partition("://")
    scheme = scheme.lower()
    was_ssh = scheme in ("ssh", "git", "git+ssh")
    if was_ssh:
        scheme = "https"
    if scheme not in ("http", "https"):
        raise ParseError(f"subject: repository URL {repo_url[:200]!r} must be http(s), ssh or git@host:path")
    host, _, path = rest.partition("/")
    host = host.rpartition("@")[2].lower()  # drop user info such as git@ or vlad@
    if was_ssh:  # an ssh port says nothing about the web address
        host = host.split(":", 1)[0]
    path = path.split("?", 1)[0].split("#", 1)[0].strip("/")
    if path.endswith(".git"):
        path = path[:-4]
    if not host or not path:
        raise ParseError(f"subject: repository URL {repo_url[:200]!r} has no host or path")
    if host in _CASE_INSENSITIVE_HOSTS:
        host = host.removeprefix("www.")
        path = path.lower()
    return f"{scheme}://{host}/{path}"


def commit_subject(repo_url: str, sha: str) -> Subject:
    """The commit `sha` of the repository at `repo_url`."""
    if not is_sha(sha):
        raise ParseError(f"subject: commit id {str(sha)[:80]!r} is not a full 40- or 64-digit hex sha")
    sha = sha.lower()
    repo = normalize_repo_url(repo_url)
    algo = "sha1" if len(sha) == 40 else "sha256"
    short_repo = repo.split("://", 1)[1].split("/", 1)[1]
    return Subject(kind="commit", uri=f"git+{repo}@{sha}", digest=f"{algo}:{sha}", name=f"{short_repo}@{sha[:7]}")


_SHORT_SHA = re.compile(r"^[0-9a-fA-F]{7,64}$")
# Where tools put a commit: MLflow's own tags, then the `git_sha`-style tags people and CI set.
COMMIT_SHA_KEYS = (
    "mlflow.source.git.commit", "git_sha", "git_commit", "git.commit", "git-sha", "gitsha", "gitcommit",
    "commit_sha", "commit", "sha", "revision", "vcs.revision", "git_revision", "ci_commit_sha", "github_sha",
)  # fmt: skip
COMMIT_REPO_KEYS = (
    "mlflow.source.git.repourl", "git_repo", "git_repo_url", "git_url", "git.url", "git.repo", "repo_url",
    "repository_url", "repository", "repo", "vcs.url", "ci_project_url", "github_repository_url",
    "mlflow.source.name",
)  # fmt: skip
# OCI image labels and annotations: the OCI spec's keys, then label-schema.org's older pair.
OCI_REVISION_KEYS = (("org.opencontainers.image.source", "org.opencontainers.image.revision"),
                     ("org.opencontainers.image.url", "org.opencontainers.image.revision"),
                     ("org.label-schema.vcs-url", "org.label-schema.vcs-ref"))  # fmt: skip


def _repo_from_code_url(url: str) -> str:
    """'https://github.com/org/repo/tree/main/src' or '.../blob/<sha>/x.py' -> the repository URL."""
    for marker in ("/-/tree/", "/-/blob/", "/tree/", "/blob/", "/commit/", "/-/commit/", "/src/"):
        head, found, _ = url.partition(marker)
        if found:
            return head
    return url


def source_commit(repo_url, revision) -> Subject | None:
    """The commit a tool names by repository and revision, in whatever form it wrote them
    (https, ssh, git@host:path, `.git`, a web link into the tree, an upper-case host, `sha1:`
    prefix, an abbreviated sha); None when the two do not name a commit. The one door for
    every source that is not a forge webhook: one commit, one identity."""
    if not isinstance(repo_url, str) or not isinstance(revision, str):
        return None
    sha = revision.strip().lower().removeprefix("sha1:").removeprefix("gitcommit:")
    if not _SHORT_SHA.match(sha) or is_null_sha(sha) or len(sha) not in (*range(7, 41), 64):
        return None
    try:
        repo = normalize_repo_url(_repo_from_code_url(repo_url.strip()))
    except ParseError:
        return None
    if is_sha(sha):
        return commit_subject(repo, sha)
    short_repo = repo.split("://", 1)[1].split("/", 1)[1]
    return Subject(kind="commit", uri=f"git+{repo}@{sha}", name=f"{short_repo}@{sha[:7]}")


def short_commit_parts(uri: str) -> tuple[str, str] | None:
    """('git+<repo>@', '<short sha>') for an abbreviated-sha commit identity, else None."""
    head, at, sha = uri.rpartition("@")
    if uri.startswith("git+") and at and 7 <= len(sha) < 40 and _SHORT_SHA.match(sha):
        return head + "@", sha
    return None


def commit_from_tags(tags: dict) -> Subject | None:
    """The commit named by key/value tags (MLflow run tags, CI variables): MLflow's
    `mlflow.source.git.commit` + `mlflow.source.git.repoURL`, else `git_sha`-style keys (any case)."""
    if not isinstance(tags, dict):
        return None
    lowered = {str(k).strip().lower(): v for k, v in tags.items() if isinstance(v, str)}
    repos = [lowered[k] for k in COMMIT_REPO_KEYS if lowered.get(k)]
    shas = [lowered[k] for k in COMMIT_SHA_KEYS if lowered.get(k)]
    for sha in shas:
        for repo in repos:
            commit = source_commit(repo, sha)
            if commit:
                return commit
    return None


def commit_from_labels(labels: dict) -> Subject | None:
    """The commit an image's labels or annotations name (OCI `org.opencontainers.image.source`
    + `.revision`, or label-schema's `vcs-url` + `vcs-ref`)."""
    if not isinstance(labels, dict):
        return None
    for repo_key, rev_key in OCI_REVISION_KEYS:
        commit = source_commit(labels.get(repo_key), labels.get(rev_key))
        if commit:
            return commit
    return None


def commit_from_source_code_location(facet: dict) -> Subject | None:
    """The commit an OpenLineage `sourceCodeLocation` job facet names: `repoUrl` (or `url`) at `version`."""
    if not isinstance(facet, dict):
        return None
    for repo in (facet.get("repoUrl"), facet.get("url")):
        commit = source_commit(repo, facet.get("version"))
        if commit:
            return commit
    return None


_IMAGE_IN_TEXT = re.compile(r"(?:oci://|docker://)?([a-z0-9][a-z0-9._-]*(?::[0-9]+)?/[a-z0-9._/-]+)(?::[\w.-]+)?"
                            r"@(sha256:[0-9a-f]{64})\b", re.IGNORECASE)  # fmt: skip
# Where deployment payloads (GitHub's free `deployment.payload`, CD tools' JSON) name what they deploy.
PAYLOAD_IMAGE_KEYS = ("image", "image_ref", "image_reference", "container_image", "oci_image", "artifact", "digest",
                      "image_digest")  # fmt: skip
PAYLOAD_IMAGE_NAME_KEYS = ("image_name", "image_repository", "repository")
PAYLOAD_RELEASE_KEYS = ("release", "release_tag", "release_name", "tag", "version")


def images_in_text(value, limit: int = 20) -> list[Subject]:
    """Image identities written out in free text (a release's notes, a link): `host/repo[:tag]@sha256:<hex>`."""
    found: dict[str, Subject] = {}
    if not isinstance(value, str):
        return []
    for match in _IMAGE_IN_TEXT.finditer(value[:100_000]):
        if not looks_like_image_ref(match.group(1)):
            continue
        try:
            subject = image_subject(match.group(1), match.group(2))
        except ParseError:
            continue
        found.setdefault(subject.uri, subject)
        if len(found) >= limit:
            break
    return list(found.values())


def deployment_payload_links(payload, repo_url: str) -> tuple[Subject | None, Subject | None]:
    """(image, release) a deployment's payload names: an image reference with its digest (or an image
    name and a digest apart) and a release tag of the repository at `repo_url`; None for what it does
    not name."""
    if not isinstance(payload, dict):
        return None, None
    image = None
    name = next((payload[k] for k in PAYLOAD_IMAGE_NAME_KEYS if isinstance(payload.get(k), str)), "")
    for key in PAYLOAD_IMAGE_KEYS:
        value = payload.get(key)
        if isinstance(value, dict):  # {"image": {"name": ..., "digest": ...}}
            name_part, digest_part = value.get("name") or value.get("repository"), value.get("digest")
            value = f"{name_part}@{digest_part}" if isinstance(name_part, str) and isinstance(digest_part, str) else ""
        if not isinstance(value, str) or not value:
            continue
        if "@" not in value and name and value.lower().startswith("sha256:"):
            value = f"{name}@{value}"
        found = images_in_text(value, limit=1)
        if found:
            image = found[0]
            break
    release = None
    for key in PAYLOAD_RELEASE_KEYS:
        tag = payload.get(key)
        if isinstance(tag, str) and tag.strip() and repo_url and len(tag) <= 300 and "@sha256:" not in tag:
            try:
                release = release_subject(repo_url, tag.strip())
            except ParseError:
                continue
            break
    return image, release


def chain_edges(image: Subject | None, release: Subject | None, deployment: Subject) -> list[Edge]:
    """The release chain's last links a deployment names: image -released-from-> release
    -deployed-from-> deployment, or straight from the one of the two it names."""
    edges = []
    if image and release:
        edges.append(Edge(source=image, target=release, relation="released-from"))
    if release or image:
        edges.append(Edge(source=release or image, target=deployment, relation="deployed-from"))
    return edges


def _split_image_name(name: str) -> tuple[str, str]:
    """'ghcr.io/Org/App:1.0' -> ('ghcr.io', 'org/app'); Docker Hub short names expanded."""
    ref = name.strip()
    if ref.startswith("oci://"):
        ref = ref[6:]
    for prefix in ("docker://", "https://", "http://"):
        if ref.startswith(prefix):
            ref = ref[len(prefix) :]
    ref = ref.split("@", 1)[0]
    first, _, rest = ref.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        host, repo = first.lower(), rest
    else:
        host, repo = "docker.io", ref
    if host in ("index.docker.io", "registry-1.docker.io"):
        host = "docker.io"
    # A tag is a ':' after the last '/' (of the name without stray slashes, so 'app:/' has tag '').
    repo = repo.strip("/")
    last_slash = repo.rfind("/")
    colon = repo.find(":", last_slash + 1)
    if colon != -1:
        repo = repo[:colon]
    repo = repo.strip("/").lower()
    if host == "docker.io" and "/" not in repo:
        repo = f"library/{repo}"
    if not repo or not _REGISTRY_REF.match(repo) or not _REGISTRY_REF.match(host):
        raise ParseError(f"subject: {name[:200]!r} is not an image reference like registry/repository")
    return host, repo


def image_subject(ref: str, digest: str) -> Subject:
    """The image `ref` (registry/repository, tag ignored) pinned to `digest`."""
    _check_text(ref)
    digest = normalize_digest(digest)
    host, repo = _split_image_name(ref)
    return Subject(kind="image", uri=f"oci://{host}/{repo}@{digest}", digest=digest, name=f"{host}/{repo}")


def file_subject(name: str, digest: str) -> Subject:
    """A file known by its content digest; the name is only for display."""
    digest = normalize_digest(digest)
    return Subject(kind="file", uri=f"file:{digest}", digest=digest, name=(name or "").strip()[:200])


def release_subject(repo_url: str, tag: str) -> Subject:
    repo = normalize_repo_url(repo_url)
    tag = _check_text(tag)
    return Subject(kind="release", uri=f"release:{repo}@{tag}", name=f"{repo.split('/', 3)[-1]} {tag}")


def deployment_subject(repo_url: str, environment: str, deployment_id) -> Subject:
    repo = normalize_repo_url(repo_url)
    env = _check_text(str(environment or "default"))
    dep = _check_text(str(deployment_id))
    return Subject(kind="deployment", uri=f"deployment:{repo}/{env}/{dep}", name=f"{env} #{dep}")


# --- purl --------------------------------------------------------------------------


def _purl_quote(part: str) -> str:
    # '@', '/', '?', '#' and '%' must be encoded inside a purl component; ':' may stay.
    return quote(part, safe="-._~:+!$'()*,;=")


def _purl_qualifiers(qualifier_text: str) -> dict[str, str]:
    """'Repository_URL=a%2Fb&arch=' -> {'repository_url': 'a/b'} (keys lower-cased, empty values dropped)."""
    qualifiers = {}
    for pair in qualifier_text.split("&"):
        key, _, value = pair.partition("=")
        value = unquote(value)
        if key and value:
            qualifiers[key.lower()] = value
    return qualifiers


def _purl_checksum_sha256(checksum: str) -> str:
    """The sha256 of a purl's `checksum` qualifier (the last valid one), or ''."""
    digest = ""
    for item in checksum.split(","):
        if item.lower().startswith("sha256:"):
            try:
                digest = normalize_digest(item)
            except ParseError:
                digest = ""
    return digest


def _normalize_purl(purl: str) -> tuple[str, str, str, str]:
    """Return (canonical purl, type, display name, sha256 digest from qualifiers or '')."""
    raw = _check_text(purl)
    if not raw.lower().startswith("pkg:"):
        raise ParseError(f"subject: {raw[:200]!r} is not a purl (must start with 'pkg:')")
    rest = raw[4:].lstrip("/")
    rest, _, subpath = rest.partition("#")
    rest, _, qualifier_text = rest.partition("?")
    ptype, _, path = rest.partition("/")
    ptype = ptype.lower()
    if not ptype or not re.match(r"^[a-z.+-][a-z0-9.+-]*$", ptype):
        raise ParseError(f"subject: purl {raw[:200]!r} has no valid type")
    path = path.strip("/")
    version = ""
    # The version separator is the last '@' of the path, after the last '/'.
    at = path.rfind("@")
    if at != -1 and at > path.rfind("/") - 1 and at != 0:
        path, version = path[:at], unquote(path[at + 1 :])
    segments = [unquote(seg) for seg in path.split("/") if seg]
    if not segments:
        raise ParseError(f"subject: purl {raw[:200]!r} has no name")
    name, namespace = segments[-1], segments[:-1]
    if ptype == "pypi":
        name = re.sub(r"[-_.]+", "-", name).lower()
    elif ptype in ("npm", "github", "bitbucket", "golang", "oci"):
        name = name.lower()
        namespace = [seg.lower() for seg in namespace]
    qualifiers = _purl_qualifiers(qualifier_text)
    digest = _purl_checksum_sha256(qualifiers.get("checksum", ""))
    canonical = "pkg:" + ptype + "/"
    if namespace:
        canonical += "/".join(_purl_quote(seg) for seg in namespace) + "/"
    canonical += _purl_quote(name)
    if version:
        canonical += "@" + _purl_quote(version)
    if qualifiers:
        canonical += "?" + "&".join(f"{k}={_purl_quote(v)}" for k, v in sorted(qualifiers.items()))
    subpath = "/".join(seg for seg in subpath.split("/") if seg not in ("", ".", ".."))
    if subpath:
        canonical += "#" + subpath
    display = "/".join([*namespace, name]) + (f"@{version}" if version else "")
    return canonical, ptype, display, digest


def purl_subject(purl: str) -> Subject:
    """A package by purl. `pkg:oci/...@sha256:...?repository_url=host/repo` becomes an image."""
    canonical, ptype, display, digest = _normalize_purl(purl)
    if ptype == "oci":
        version = display.rpartition("@")[2]
        repo_url = ""
        query = canonical.partition("?")[2].partition("#")[0]
        for pair in query.split("&"):
            key, _, value = pair.partition("=")
            if key == "repository_url":
                repo_url = unquote(value)
        if repo_url and version.lower().startswith("sha256:"):
            return image_subject(repo_url, version)
    if len(canonical) > MAX_URI:
        raise ParseError(f"subject: purl is longer than {MAX_URI} characters")
    return Subject(kind="package", uri=canonical, digest=digest, name=display[:200])


# --- free text ---------------------------------------------------------------------


def _git_subject_from_text(text: str) -> Subject | None:
    """'git+https://host/org/repo@sha' or 'https://host/org/repo@sha' -> commit."""
    body = text[4:] if text.startswith("git+") else text
    if "://" not in body:
        return None
    scheme = body.split("://", 1)[0].lower()
    if scheme not in ("http", "https", "ssh"):
        return None
    repo, at, ref = body.rpartition("@")
    if not at or "/" in ref or "://" not in repo:
        return None
    if is_sha(ref):
        return commit_subject(repo, ref)
    return None


def normalize_subject(text: str) -> Subject:
    """Parse an identity a person or tool wrote into its canonical Subject."""
    value = _check_text(text)
    lower = value.lower()
    if lower.startswith("pkg:"):
        return purl_subject(value)
    if lower.startswith("mlflow://"):
        parts = [p for p in value[9:].split("/") if p]
        if len(parts) != 2:
            raise ParseError(f"subject: {value[:200]!r} should look like mlflow://<model>/<version>")
        model, version = (unquote(p).strip() for p in parts)
        return Subject(kind="model-version", uri=f"mlflow://{model}/{version}", name=f"{model} v{version}")
    if lower.startswith("dataset:"):
        # DVC marks a directory's manifest hash with a ".dir" suffix; it is part of the identity.
        raw, suffix = (value[8:-4], ".dir") if lower.endswith(".dir") else (value[8:], "")
        digest = normalize_digest(raw)
        return Subject(kind="dataset", uri=f"dataset:{digest}{suffix}", digest=digest, name=f"dataset {digest[:19]}")
    if lower.startswith(("file:sha", "file:md5")):
        return file_subject("", value[5:])
    if lower.startswith("release:"):
        repo, at, tag = value[8:].rpartition("@")
        if at and "://" in repo:
            return release_subject(repo, tag)
    if lower.startswith("deployment:"):
        repo_env, _, dep = value[11:].rpartition("/")
        repo, _, env = repo_env.rpartition("/")
        if repo and "://" in repo:
            return deployment_subject(repo, env, dep)
    commit = _git_subject_from_text(value)
    if commit:
        return commit
    if "@sha256:" in lower or "@sha512:" in lower:
        ref, _, digest = value.rpartition("@")
        try:
            return image_subject(ref, digest)
        except ParseError:
            pass
    return Subject(kind="other", uri=value, name=value[:200])


def looks_like_image_ref(name: str) -> bool:
    """True for 'ghcr.io/org/app', 'localhost:5000/x', 'docker.io/library/python:3'."""
    if not isinstance(name, str) or " " in name or "/" not in name or name.startswith("pkg:"):
        return False
    ref = name[6:] if name.startswith("oci://") else name
    first = ref.split("/", 1)[0]
    return ("." in first or ":" in first or first == "localhost") and "://" not in ref
