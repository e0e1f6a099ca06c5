"""Make a single-file HTML report safe to open offline: strip analytics, forbid network.

Allure 3's report template always embeds a Google Analytics tag. An audit report must not call
anyone, so we remove the tag, add a Content-Security-Policy that blocks every network fetch, and
refuse the file if any external reference is left.
"""

from __future__ import annotations

import re

CSP = (
    "default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval' data: blob:; "
    "style-src 'unsafe-inline' data: blob:; img-src data: blob:; font-src data:; "
    "connect-src data: blob:; media-src data: blob:; worker-src data: blob:; "
    "frame-src data: blob:; base-uri 'none'; form-action 'none'"
)
_EXTERNAL_SCRIPT = re.compile(
    r"<script\b[^>]*\bsrc\s*=\s*[\"']?(?:https?:)?//[^>]*>\s*</script>", re.I
)
_INLINE_SCRIPT = re.compile(r"<script\b[^>]*>(.*?)</script>", re.I | re.S)
_ANALYTICS = re.compile(
    r"googletagmanager|google-analytics|gtag\(|dataLayer|doubleclick|segment\.io|mixpanel|"
    r"hotjar|plausible\.io|sentry\.io",
    re.I,
)
_RESOURCE_REF = re.compile(
    r"<(?:script|link|img|iframe|source|video|audio|embed|object|image|use|form)\b[^>]*?"
    r"\b(?:src|href|srcset|data|action|poster|xlink:href)\s*=\s*[\"']?\s*((?:https?:)?//[^\"'\s>]+)",
    re.I,
)
_CSS_REF = re.compile(r"(?:url\(\s*[\"']?|@import\s+[\"'])((?:https?:)?//[^\"')\s]+)", re.I)
_BEACON = re.compile(r"googletagmanager\.com|google-analytics\.com|doubleclick\.net", re.I)


def strip_analytics(html: str) -> str:
    html = _EXTERNAL_SCRIPT.sub("", html)
    return _INLINE_SCRIPT.sub(
        lambda m: "" if len(m.group(1)) < 4096 and _ANALYTICS.search(m.group(1)) else m.group(0),
        html,
    )


def add_csp(html: str) -> str:
    meta = f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
    head = re.search(r"<head\b[^>]*>", html, re.I)
    if head is None:
        return meta + html
    return html[: head.end()] + meta + html[head.end() :]


def external_references(html: str) -> list[str]:
    """Every reference that would make a browser contact another host."""
    found = [m.group(1) for m in _RESOURCE_REF.finditer(html)]
    found += [m.group(1) for m in _CSS_REF.finditer(html)]
    found += [m.group(0) for m in _BEACON.finditer(html)]
    return sorted(set(found))


def make_offline(html: str) -> str:
    return add_csp(strip_analytics(html))
