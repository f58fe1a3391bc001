"""runbook.md as a small HTML page, so the dashboard's runbook links work on an offline desk.

Only the Markdown the runbook uses: headings (with GitHub-style slug ids), paragraphs, fenced code,
lists, tables, inline code, bold, links and autolinks. Every piece of text is escaped; the one raw HTML kept
is an anchor of the exact form ``<a id="slug"></a>``.
"""
from __future__ import annotations

import html
import re

_ANCHOR = re.compile(r'<a id="([a-z0-9-]+)"></a>')
_HEADING = re.compile(r"(#{1,6})\s+(.*)")
_LIST = re.compile(r"(\s*)([-*]|\d+\.)\s+(.*)")
_INLINE = re.compile(r"`([^`]+)`|\*\*(.+?)\*\*|\[([^\]]+)\]\(([^)\s]+)\)|<(https?://[^>\s]+)>")
_SAFE_HREF = re.compile(r"(#|/|https?://|mailto:)[^\s\"'<>]*|[\w./-]+(#[\w-]+)?")


def slug(text: str) -> str:
    """GitHub's heading id: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def _href(target: str) -> str:
    if target.startswith("runbook.md#"):
        return target[len("runbook.md"):]
    return target if _SAFE_HREF.fullmatch(target) else "#"


def inline(text: str) -> str:
    out, pos = [], 0
    for m in _INLINE.finditer(text):
        out.append(html.escape(text[pos:m.start()]))
        code, bold, label, target, url = m.groups()
        if url is not None:
            out.append(f'<a href="{html.escape(_href(url))}">{html.escape(url)}</a>')
        elif code is not None:
            out.append(f"<code>{html.escape(code)}</code>")
        elif bold is not None:
            out.append(f"<strong>{inline(bold)}</strong>")
        else:
            out.append(f'<a href="{html.escape(_href(target))}">{html.escape(label)}</a>')
        pos = m.end()
    out.append(html.escape(text[pos:]))
    return "".join(out)


def _table(rows: list[str]) -> str:
    cells = [[c.strip() for c in row.strip().strip("|").split("|")] for row in rows]
    head, body = cells[0], [r for r in cells[1:] if not all(set(c) <= set("-: ") for c in r)]
    parts = ["<table><thead><tr>", *(f"<th>{inline(c)}</th>" for c in head), "</tr></thead><tbody>"]
    for row in body:
        parts += ["<tr>", *(f"<td>{inline(c)}</td>" for c in row), "</tr>"]
    return "".join(parts + ["</tbody></table>"])


def to_html(markdown: str) -> str:
    """The body HTML of a Markdown document (see the module docstring for what is understood)."""
    lines, out, i = markdown.splitlines(), [], 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if stripped.startswith("```"):
            lang = stripped[3:].strip()
            block = []
            i += 1
            while i < len(lines) and not lines[i].strip().startswith("```"):
                block.append(lines[i])
                i += 1
            cls = f' class="lang-{html.escape(lang)}"' if re.fullmatch(r"[\w-]+", lang) else ""
            out.append(f"<pre><code{cls}>{html.escape(chr(10).join(block))}</code></pre>")
            i += 1
        elif _ANCHOR.fullmatch(stripped):
            out.append(f'<a id="{_ANCHOR.fullmatch(stripped).group(1)}"></a>')
            i += 1
        elif m := _HEADING.fullmatch(stripped):
            level, text = len(m.group(1)), m.group(2)
            out.append(f'<h{level} id="{slug(text)}">{inline(text)}</h{level}>')
            i += 1
        elif stripped.startswith("|"):
            rows = []
            while i < len(lines) and lines[i].strip().startswith("|"):
                rows.append(lines[i])
                i += 1
            out.append(_table(rows))
        elif _LIST.fullmatch(line):
            ordered = _LIST.fullmatch(line).group(2)[0].isdigit()
            items = []
            while i < len(lines):
                m = _LIST.fullmatch(lines[i])
                if m:
                    items.append(m.group(3))
                elif items and lines[i].startswith("  ") and lines[i].strip():
                    items[-1] += " " + lines[i].strip()  # a wrapped item
                else:
                    break
                i += 1
            tag = "ol" if ordered else "ul"
            out.append(f"<{tag}>" + "".join(f"<li>{inline(item)}</li>" for item in items) + f"</{tag}>")
        elif not stripped:
            i += 1
        else:
            para = []
            while i < len(lines) and lines[i].strip() and not _starts_block(lines[i]):
                para.append(lines[i].strip())
                i += 1
            out.append(f"<p>{inline(' '.join(para))}</p>")
    return "\n".join(out)


def _starts_block(line: str) -> bool:
    s = line.strip()
    return (s.startswith(("```", "|")) or bool(_HEADING.fullmatch(s)) or bool(_ANCHOR.fullmatch(s))
            or bool(_LIST.fullmatch(line)))


def page(markdown: str, title: str = "Runbook") -> str:
    return ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title>"
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            '<link rel="icon" href="/static/favicon.svg">'
            '<link rel="stylesheet" href="/static/dashboard.css"></head>'
            f'<body class="runbook"><main>{to_html(markdown)}</main></body></html>')
