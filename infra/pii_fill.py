"""PII filled in at publish time (SPEC §8 v2): outbox rows never hold personal data.

Outputs that must carry PII (``notice.requested``, ``callback.requested``: ``to.name``,
``to.phone``, a complaint extension's ``params.reason``) are enqueued with those JSON
fields set to null and a *reference* per field: which vault subject and which key of
``pii_vault.fields`` holds the value. The outbox relay, holding a connection of the PII
role (``CLAIMDESK_PII_DATABASE_URL``, default the worker's own), reads the referenced
values and writes them into the event just before publishing. The worker role can write
the vault but never read it back, so a handler could not put PII in the outbox even by
mistake; the timeline, parked events and the outbox stay free of it.

API for handlers (see also ``docs/notices.md``)::

    from infra.pii_fill import reporter_of, complainant_of, vault_field
    fx.output(type_, topic, key, data, event_id, now, pii=reporter_of(case_id))
    # data.to.name / data.to.phone may hold anything: they are nulled before storing
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

log = logging.getLogger(__name__)

Path = tuple[str, ...]
TO_NAME: Path = ("data", "to", "name")
TO_PHONE: Path = ("data", "to", "phone")


class PiiMissing(LookupError):
    """A referenced vault value does not exist (the row cannot be published yet)."""


@dataclass(frozen=True)
class VaultField:
    """Where one PII field of an output comes from.

    ``path``: JSON path in the CloudEvents envelope (e.g. ``("data", "to", "name")``);
    ``subject_type``/``subject_id``: the ``pii_vault`` subject (``case``, ``complaint``,
    ``review``, ...); ``key``: the key inside ``pii_vault.fields``.
    """

    path: Path
    subject_type: str
    subject_id: str
    key: str

    def to_json(self) -> dict[str, Any]:
        """The stored form (``outbox.pii_ref`` is a list of these)."""
        return {"path": list(self.path), "subject_type": self.subject_type,
                "subject_id": self.subject_id, "key": self.key}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> VaultField:
        """Inverse of :meth:`to_json`."""
        return cls(tuple(raw["path"]), raw["subject_type"], raw["subject_id"], raw["key"])


PiiRef = tuple[VaultField, ...]


def vault_field(path: Path, subject_type: str, subject_id: str, key: str) -> VaultField:
    """A reference to one vault value."""
    return VaultField(path, subject_type, subject_id, key)


def reporter_of(case_id: str) -> PiiRef:
    """``to.name``/``to.phone`` = the case's reporter (case.reported vault row)."""
    return (VaultField(TO_NAME, "case", case_id, "reporter_name"),
            VaultField(TO_PHONE, "case", case_id, "reporter_phone"))


def complainant_of(complaint_id: str) -> PiiRef:
    """``to.name``/``to.phone`` = the complainant (complaint.filed vault row)."""
    return (VaultField(TO_NAME, "complaint", complaint_id, "complainant_name"),
            VaultField(TO_PHONE, "complaint", complaint_id, "complainant_phone"))


def review_reason(review_id: str, path: Path = ("data", "params", "reason")) -> VaultField:
    """A review's free-text ``reason`` (e.g. ``complaint_extended``'s ``params.reason``)."""
    return VaultField(path, "review", review_id, "reason")


def encode_ref(ref: Sequence[VaultField]) -> str | None:
    """``outbox.pii_ref`` text (None when the output carries no PII)."""
    return json.dumps([f.to_json() for f in ref], ensure_ascii=False) if ref else None


def decode_ref(raw: Any) -> PiiRef:
    """Parse ``outbox.pii_ref`` (jsonb, already a list, or text)."""
    items = json.loads(raw) if isinstance(raw, (str, bytes)) else raw
    return tuple(VaultField.from_json(i) for i in items or ())


_REFS: dict[str, PiiRef] = {}  # pii_ref text → parsed (a case's notices share their ref)
_REFS_MAX = 1 << 14


def decode_ref_text(raw: str) -> PiiRef:
    """:func:`decode_ref` of ``pii_ref::text``, memoised (bounded): the relay reads the
    column as text so that a reference seen before costs a dict lookup, not a JSON parse
    and a dataclass per field (PII filling was half of the relay's CPU)."""
    ref = _REFS.get(raw)
    if ref is None:
        if len(_REFS) >= _REFS_MAX:
            _REFS.clear()
        ref = _REFS[raw] = decode_ref(raw)
    return ref


def _set(doc: dict[str, Any], path: Path, value: Any) -> None:
    node = doc
    for part in path[:-1]:
        node = node.setdefault(part, {})
    node[path[-1]] = value


def scrub(value: bytes, ref: Sequence[VaultField]) -> bytes:
    """The event with every referenced field set to null: what the outbox stores."""
    if not ref:
        return value
    doc = json.loads(value)
    for f in ref:
        _set(doc, f.path, None)
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def fill(value: bytes, ref: Sequence[VaultField],
         vault: dict[tuple[str, str], dict[str, Any]]) -> bytes:
    """The event with every referenced field taken from ``vault`` (subject → fields).

    Raises :class:`PiiMissing` (naming subject and key, never a value) if one is absent.
    """
    return _filled(value, ref, vault)[1]


def _filled(value: bytes, ref: Sequence[VaultField],
            vault: dict[tuple[str, str], dict[str, Any]]) -> tuple[dict[str, Any], bytes]:
    """:func:`fill`, also returning the filled document (the relay reads a notice's kind
    from it instead of decoding the value a second time)."""
    doc = json.loads(value)
    for f in ref:
        fields = vault.get((f.subject_type, f.subject_id))
        if fields is None or fields.get(f.key) in (None, ""):
            raise PiiMissing(f"no vault value {f.key} for {f.subject_type} {f.subject_id}")
        _set(doc, f.path, fields[f.key])
    return doc, json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class VaultReader(Protocol):
    """Reads vault fields per subject (implemented over a PII-role connection pool)."""

    async def read(self, subjects: Iterable[tuple[str, str]]
                   ) -> dict[tuple[str, str], dict[str, Any]]: ...


@dataclass
class PoolVaultReader:
    """:class:`VaultReader` over a pool connected as the PII role.

    A subject may have several vault rows (one per event that carried its PII); the
    earliest recorded value of each key wins, which is the one of the applied event.
    """

    pool: Any  # psycopg_pool.AsyncConnectionPool

    async def read(self, subjects: Iterable[tuple[str, str]]
                   ) -> dict[tuple[str, str], dict[str, Any]]:
        """subject → merged fields (absent subjects are left out)."""
        keys = sorted(set(subjects))
        if not keys:
            return {}
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT subject_type, subject_id, fields FROM pii_vault v"
                " JOIN unnest(%b::text[], %b::text[]) AS u(st, sid)"
                " ON v.subject_type = u.st AND v.subject_id = u.sid"
                " ORDER BY v.recorded_at DESC, v.source DESC, v.event_id DESC",
                ([k[0] for k in keys], [k[1] for k in keys]))
            rows = await cur.fetchall()
            await conn.rollback()
        out: dict[tuple[str, str], dict[str, Any]] = {}
        for st, sid, fields in rows:  # newest first: older rows overwrite → earliest wins
            out.setdefault((st, sid), {}).update(fields)
        return out


async def fill_rows(rows: Sequence[tuple[int, bytes, Any]], reader: VaultReader | None,
                    on_doc: Callable[[int, dict[str, Any]], None] | None = None,
                    ) -> tuple[dict[int, bytes], list[int]]:
    """Fill the PII of outbox rows ``(seq, value, pii_ref)``.

    Returns (seq → publishable value, seqs held back because a vault value is missing).
    Rows without a reference pass unchanged. ``on_doc(seq, document)`` is called with the
    filled document of every row that had to be decoded to fill it (rows with a reference).
    """
    refs = {seq: decode_ref_text(raw) if type(raw) is str else decode_ref(raw)
            for seq, _, raw in rows if raw}
    vault: dict[tuple[str, str], dict[str, Any]] = {}
    if refs:
        if reader is None:
            raise RuntimeError("outbox rows need PII but the relay has no vault reader")
        vault = await reader.read((f.subject_type, f.subject_id)
                                  for ref in refs.values() for f in ref)
    out: dict[int, bytes] = {}
    held: list[int] = []
    for seq, value, _ in rows:
        ref = refs.get(seq)
        if not ref:
            out[seq] = bytes(value)
            continue
        try:
            doc, out[seq] = _filled(bytes(value), ref, vault)
        except PiiMissing as exc:
            log.warning("outbox row %d held back: %s", seq, exc)
            held.append(seq)
            continue
        if on_doc is not None:
            on_doc(seq, doc)
    return out, held
