"""Console messages in Simplified Chinese (default) and English.

The catalogues are flat JSON files (``messages/<lang>.json``, key -> text with
``{name}`` placeholders). Every visible string of the console comes from them;
a test checks that both catalogues have the same keys and that every key used
in a template exists.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from fastapi import Request

log = logging.getLogger(__name__)

MESSAGES = Path(__file__).with_name("messages")
LANGUAGES = ("zh-CN", "en")
DEFAULT_LANGUAGE = "zh-CN"
LANG_COOKIE = "lang"
#: What the language switch shows for each language, in that language (not translated on purpose).
LANGUAGE_NAMES = {"zh-CN": "中文", "en": "English"}


@cache
def catalogue(lang: str) -> Mapping[str, str]:
    with (MESSAGES / f"{lang}.json").open(encoding="utf-8") as f:
        data: dict[str, str] = json.load(f)
    return data


def normalise(value: str | None) -> str | None:
    """Map what a user or browser sends (``en``, ``en-US``, ``zh``, ``zh-cn``) to a supported language."""
    if not value:
        return None
    v = value.strip().lower()
    if v.startswith("zh"):
        return "zh-CN"
    if v.startswith("en"):
        return "en"
    return None


def request_language(request: Request) -> str:
    """``?lang=`` wins (and is remembered by the caller in a cookie), then the cookie, then zh-CN."""
    return (
        normalise(request.query_params.get("lang"))
        or normalise(request.cookies.get(LANG_COOKIE))
        or DEFAULT_LANGUAGE
    )


class Translator:
    """``t("nav.ledger")`` or ``t("audit.total", count=3)`` in templates and code."""

    def __init__(self, lang: str) -> None:
        self.lang = lang
        self.messages = catalogue(lang)

    def __call__(self, key: str, **params: Any) -> str:
        text = self.messages.get(key)
        if text is None:
            # A missing key is a bug (the catalogue test catches it); show the key rather than fail the page.
            log.warning("missing console message %r for %s", key, self.lang)
            return key
        return text.format_map(params) if params else text

    def has(self, key: str) -> bool:
        return key in self.messages
