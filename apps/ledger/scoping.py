"""Which ledger entries a user may read in full: an auditor must not read entries about systems
outside their engagements, yet must still be able to check any proof.

The ledger is in the core layer and knows no other app, so each app registers, for the object
types it records entries about, a function `visible(user) -> QuerySet` of the rows that user may
see (its own scoped selector). A scoped auditor reads an entry in full only when its object is in
one of those querysets; of any other entry they get the index and the leaf hash (enough to check
an inclusion or consistency proof, nothing of the payload). Object types nobody registered, and
entries about no object, are hidden from them. Every other ledger reader sees every entry.

`ledger_entries_visible_to()` and `ledger_entry_for_user()` are the selectors every reader of the
ledger (the pages, the proof download, exports) goes through.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.apps import apps as django_apps
from django.core.exceptions import ValidationError
from django.db.models import CharField, Q, QuerySet
from django.db.models.functions import Cast
from django.utils.text import capfirst

from apps.ledger.models import LedgerEntry
from apps.ledger.readers import ledger_readers
from apps.ledger.selectors import ledger_visible_to

# object_type ("app_label.model") -> visible(user) -> QuerySet of the objects the user may see
_OBJECT_SCOPES: dict[str, Callable[[object], QuerySet]] = {}


# object_type -> opens(user) -> bool: whether the user may open that type's pages at all (default: yes)
_OBJECT_PAGES: dict[str, Callable[[object], bool]] = {}


def ledger_object_scope_register(
    object_type: str, visible: Callable[[object], QuerySet], *, opens: Callable[[object], bool] | None = None
) -> None:
    """Say which objects of `object_type` a user may see (called from the owning app's ready()).

    `opens(user)`, when given, says whether the user may open the type's pages (a page behind a permission
    that not every reader of the ledger has): the ledger list links an object only when it is True."""
    _OBJECT_SCOPES[object_type] = visible
    if opens is not None:
        _OBJECT_PAGES[object_type] = opens


def ledger_object_scopes() -> dict[str, Callable[[object], QuerySet]]:
    return dict(_OBJECT_SCOPES)


def ledger_object_types() -> list[tuple[str, str]]:
    """(object_type, its name) of every registered type, by name: the ledger list's "Object" menu."""
    types = []
    for object_type in _OBJECT_SCOPES:
        try:
            types.append((object_type, capfirst(django_apps.get_model(object_type)._meta.verbose_name)))
        except (LookupError, ValueError):
            continue
    return sorted(types, key=lambda t: t[1])


@dataclass(frozen=True)
class ObjectLink:
    """How the ledger list names an entry's object: a label, and its page when the viewer may open it."""

    label: str
    url: str = ""


def ledger_object_links(user, entries: Iterable[LedgerEntry]) -> dict[tuple[str, str], ObjectLink]:
    """(object_type, object_id) -> ObjectLink for the objects the given entries name.

    A link only for an object in the registered `visible(user)` queryset of its type (the same scoped
    selector the pages use) that has a page the user may open (`opens`); any other object keeps the
    type's name and its id, which the entry already shows. One query per object type on the page."""
    ids_by_type: dict[str, set[str]] = defaultdict(set)
    for entry in entries:
        if entry.object_type:
            ids_by_type[entry.object_type].add(entry.object_id)
    names = dict(ledger_object_types())
    links: dict[tuple[str, str], ObjectLink] = {}
    for object_type, ids in ids_by_type.items():
        name = names.get(object_type, object_type)
        for object_id in ids:
            links[(object_type, object_id)] = ObjectLink(f"{name} #{object_id}" if object_id else name)
        visible = _OBJECT_SCOPES.get(object_type)
        opens = _OBJECT_PAGES.get(object_type)
        if visible is None or (opens is not None and not opens(user)):
            continue
        objects = visible(user)
        pk_field = objects.model._meta.pk
        try:
            pks = [pk_field.to_python(i) for i in ids if i]
        except ValidationError:  # an id of another shape than the model's key: nothing to open
            continue
        for obj in objects.filter(pk__in=pks):
            url = obj.get_absolute_url() if hasattr(obj, "get_absolute_url") else ""
            links[(object_type, str(obj.pk))] = ObjectLink(f"{name}: {obj}", url)
    return links


def _reads_everything(user) -> bool:
    return getattr(user, "is_authenticated", False) and ledger_readers().reads_everything(user)


def ledger_entries_visible_to(user, queryset: QuerySet[LedgerEntry] | None = None) -> QuerySet[LedgerEntry]:
    """Entries `user` may read in full, narrowing `queryset` (default: every sequenced entry)."""

    qs = LedgerEntry.objects.all() if queryset is None else queryset
    if not getattr(user, "is_authenticated", False) or not ledger_visible_to(user):
        return qs.none()
    if _reads_everything(user):
        return qs
    condition = Q(pk__in=[])
    for object_type, visible in _OBJECT_SCOPES.items():
        ids = visible(user).order_by().annotate(_ledger_object_id=Cast("pk", CharField())).values("_ledger_object_id")
        condition |= Q(object_type=object_type, object_id__in=ids)
    return qs.filter(condition)


def ledger_entry_readable_by(user, entry: LedgerEntry) -> bool:
    """True when `user` may read this entry's payload."""
    if _reads_everything(user):
        return ledger_visible_to(user)
    return ledger_entries_visible_to(user, LedgerEntry.objects.filter(index=entry.index)).exists()


def leaf_hash_hex(entry: LedgerEntry) -> str:
    """RFC 6962 leaf hash of the entry's canonical bytes, in hex."""
    return hashlib.sha256(b"\x00" + bytes(entry.canonical)).hexdigest()


def ledger_entry_for_user(user, entry: LedgerEntry, *, readable: bool | None = None) -> dict:
    """One entry as `user` may read it: in full, or redacted to its index and leaf hash.

    Pass `readable` when it is already known (a loop over `ledger_entries_visible_to()`)."""
    if readable is None:
        readable = ledger_entry_readable_by(user, entry)
    if not readable:
        return {"index": entry.index, "redacted": True, "leaf_hash": leaf_hash_hex(entry)}
    return {
        "index": entry.index,
        "redacted": False,
        "leaf_hash": leaf_hash_hex(entry),
        "entry": bytes(entry.canonical).decode(),
    }
