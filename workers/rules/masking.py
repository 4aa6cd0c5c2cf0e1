"""Masked forms of personal data for views (SPEC §8).

Every function strips surrounding whitespace, returns ``""`` for an empty
value and never returns the whole value unmasked: when a value is too short to
show the usual head/tail and still hide enough, less (or nothing) is shown.
Addresses and free text are never shown, so they have no masking function.
"""

from __future__ import annotations

# 复姓: compound surnames kept whole by mask_name ("欧阳娜娜" → "欧阳**").
# fmt: off
COMPOUND_SURNAMES: frozenset[str] = frozenset({
    "欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "令狐", "慕容", "司徒", "尉迟",
    "公孙", "长孙", "宇文", "夏侯", "轩辕", "端木", "独孤", "南宫", "西门", "百里",
    "呼延", "澹台", "公羊", "万俟", "闻人", "钟离", "申屠", "太史", "濮阳", "淳于",
    "单于", "赫连", "拓跋", "司空", "东郭", "第五", "公冶", "仲孙", "左丘", "梁丘",
})
# fmt: on
_HIDDEN = "****"


def mask_phone(value: str) -> str:
    """``13812345678`` → ``138****5678``.

    11+ characters: first 3, ``****``, last 4. 8–10 characters (landlines
    without area code): ``****`` + last 4. Shorter: ``****``.
    """
    text = value.strip()
    if not text:
        return ""
    if len(text) >= 11:
        return text[:3] + _HIDDEN + text[-4:]
    if len(text) >= 8:
        return _HIDDEN + text[-4:]
    return _HIDDEN


def mask_name(value: str) -> str:
    """``张伟`` → ``张*``, ``欧阳娜娜`` → ``欧阳**``: the surname, one ``*`` per other char.

    The surname is the first character, or a compound surname when the name
    is longer than it. A one-character name becomes ``*``.
    """
    text = value.strip()
    if len(text) <= 1:
        return "*" * len(text)
    keep = 2 if len(text) > 2 and text[:2] in COMPOUND_SURNAMES else 1
    return text[:keep] + "*" * (len(text) - keep)


def mask_id_number(value: str) -> str:
    """18-character resident ID → first 3 + 11 ``*`` + last 4 (same length).

    15-character (first-generation) IDs: first 3 + 8 ``*`` + last 4. Other
    lengths of 9–14: ``*`` + last 4; 8 or fewer: all ``*``.
    """
    text = value.strip()
    if len(text) >= 15:
        return text[:3] + "*" * (len(text) - 7) + text[-4:]
    if len(text) >= 9:
        return "*" * (len(text) - 4) + text[-4:]
    return "*" * len(text)


def mask_policy_no(value: str) -> str:
    """``PDAA202644030000004567`` → ``****4567``; 8 or fewer characters → ``****``."""
    text = value.strip()
    if not text:
        return ""
    if len(text) > 8:
        return _HIDDEN + text[-4:]
    return _HIDDEN
