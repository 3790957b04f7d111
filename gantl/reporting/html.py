"""Small HTML pieces. Every piece of text that reaches the page goes through `esc`; markup is
only ever built here and in the sections from escaped parts."""

from __future__ import annotations

import base64
import html
from collections.abc import Iterable


def esc(value: object) -> str:
    """Text (any value, str() of it) escaped for an element or a quoted attribute."""
    return html.escape(str(value), quote=True)


def attrs(**values: object) -> str:
    """` key="value"` pairs (escaped; `_` in a key becomes `-`; None and False are left out)."""
    parts = []
    for key, value in values.items():
        if value is None or value is False:
            continue
        name = key.rstrip("_").replace("_", "-")
        parts.append(f' {name}="{esc("true" if value is True else value)}"')
    return "".join(parts)


def tag(name: str, content: str = "", **values: object) -> str:
    """<name attrs>content</name>: `content` is markup, already escaped by its maker."""
    return f"<{name}{attrs(**values)}>{content}</{name}>"


def note(text: str) -> str:
    """One line saying why something is not shown."""
    return tag("p", esc(text), class_="note")


def image(png: bytes, alt: str, caption: str | None = None, zoom: int = 1) -> str:
    """A PNG inlined as a data: URI, with an optional caption; `zoom` draws a small image of
    pixels (a grid of 28-px digits) that many times larger, each pixel a crisp square."""
    data = base64.b64encode(png).decode("ascii")
    shown = {"alt": alt}
    if zoom > 1 and png[12:16] == b"IHDR":  # a PNG's first chunk: width, height (big-endian)
        shown |= {"width": zoom * int.from_bytes(png[16:20], "big"), "class_": "pixels"}
    img = f'<img src="data:image/png;base64,{data}"{attrs(**shown)}>'
    return tag("figure", img + (tag("figcaption", esc(caption)) if caption else ""))


def table(header: Iterable[str], rows: Iterable[Iterable[str]], **values: object) -> str:
    """A table of plain cells: header and cells are text (escaped here)."""
    head = tag("tr", "".join(tag("th", esc(h)) for h in header))
    body = "".join(tag("tr", "".join(tag("td", esc(c)) for c in row)) for row in rows)
    return tag("table", tag("thead", head) + tag("tbody", body), **values)


def section(anchor: str, title: str, body: str) -> str:
    return tag("section", tag("h2", esc(title)) + body, id=anchor)


def bullets(lines: Iterable[str]) -> str:
    """A list of text lines (escaped here)."""
    return tag("ul", "".join(tag("li", esc(line)) for line in lines))
