"""MyST markup -> plain Markdown, so that the editions read well in Jupyter and Colab.

The book's markdown cells use MyST, which only Jupyter Book understands: roles
(``{cite}`key```, ``{eq}`label```, ``{numref}`label```), directives (```` ```{admonition} ````),
equation labels (``$$ ... $$ (label)``) and targets (``(label)=``). Plain Jupyter and
Colab show them raw. :func:`to_plain` rewrites one cell's text the way the book renders
it: a citation becomes "(Riad et al., 2022)", an equation reference its number "(1.3)"
(the equation itself carries ``\\tag{1.3}``), a figure reference "Fig. 1.2", an
admonition a bold title over its body. :func:`chapter_references` collects the numbers
and citations of one chapter; :func:`leftover_myst` finds what survived, for the tests.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

__all__ = [
    "References",
    "chapter_references",
    "leftover_myst",
    "reference_list",
    "roles_in_code",
    "to_plain",
]

ROLE = re.compile(r"\{(?P<role>[A-Za-z][\w:+-]*)\}`(?P<content>[^`]*)`")
# A role inside a code cell's string (``md("see {eq}`x`")``, ``{{eq}}`` in an f-string):
# only the book's reference roles, which no Python means otherwise.
CODE_ROLE = re.compile(
    r"\{\{?(?P<role>cite(?::\w+)?|eq|numref|ref|doc)\}\}?`(?P<content>[^`]*)`")
DIRECTIVE_OPEN = re.compile(
    r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|:{3,})\{(?P<name>[\w:-]+)\}[ \t]*(?P<arg>.*)$")
CODE_FENCE = re.compile(r"^[ \t]*(?P<fence>`{3,}|~{3,})")
OPTION = re.compile(r"^[ \t]*:(?P<key>[\w-]+):[ \t]*(?P<value>.*)$")
TARGET = re.compile(r"^\((?P<label>[^()\s]+)\)=[ \t]*$")
EQUATION_LABEL = re.compile(r"[ \t]*\((?P<label>[^()\s]+)\)[ \t]*(?=\n|$)")
EXPLICIT = re.compile(r"^(?P<text>.*?)\s*<(?P<target>[^<>]+)>$", re.DOTALL)
HEADING = re.compile(r"^#{1,6}\s+(?P<title>.+?)\s*#*\s*$")
ADMONITIONS = {"note", "tip", "hint", "important", "warning", "caution", "attention",
               "danger", "error", "seealso"}
CITE_ROLES = {"cite", "cite:p", "cite:ps", "cite:t", "cite:ts", "cite:cts", "cite:ct",
              "cite:alp", "cite:year", "cite:author"}


@dataclass
class References:
    """What one chapter's roles point to.

    ``chapter`` is the chapter's number ("1"), the prefix of its figure and equation
    numbers as the book prints them ("Fig. 1.2", "(1.3)").
    """

    chapter: str = ""
    citations: dict[str, str] = field(default_factory=dict)  # key -> "Riad et al., 2022"
    entries: dict[str, str] = field(default_factory=dict)  # key -> the bibliography line
    equations: dict[str, str] = field(default_factory=dict)  # label -> "1.3"
    figures: dict[str, str] = field(default_factory=dict)  # label -> "1.2"
    sections: dict[str, str] = field(default_factory=dict)  # label -> heading text
    cited: list[str] = field(default_factory=list)  # keys in order of first citation

    def number(self, k: int) -> str:
        return f"{self.chapter}.{k}" if self.chapter else str(k)


@lru_cache(maxsize=4)
def _bibliography(path: str) -> tuple[dict[str, str], dict[str, str]]:
    """``(citation label, bibliography line)`` per key of a BibTeX file."""
    from pybtex.database import parse_file  # pybtex comes with jupyter-book

    from hybridlib.book.sphinx_bib import author_year

    labels, entries = {}, {}
    for key, entry in parse_file(path).entries.items():
        labels[key] = author_year(entry)
        fields = {k: re.sub(r"[{}]", "", v) for k, v in entry.fields.items()}
        venue = fields.get("booktitle") or fields.get("journal") or fields.get("publisher")
        if not venue and fields.get("eprint"):
            venue = f"arXiv:{fields['eprint']}"
        parts = [labels[key], f"*{fields.get('title', key)}*", venue]
        line = ". ".join(p for p in parts if p) + "."
        if fields.get("url"):
            line += f" <{fields['url']}>"
        entries[key] = line
    return labels, entries


def _display_math(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of every ``$$ ... $$`` block, delimiters included."""
    marks = [m.start() for m in re.finditer(r"(?<!\\)\$\$", text)]
    return [(marks[i], marks[i + 1] + 2) for i in range(0, len(marks) - 1, 2)]


def chapter_references(nb, chapter: str = "", bibliography: Path | None = None) -> References:
    """Number the labelled equations and figures of notebook ``nb`` in order, as the book does.

    The book numbers only labelled equations (``$$ ... $$ (label)`` and ``{math}`` blocks
    with ``:label:``) and named figures (a code cell's ``mystnb.figure.name``, or a
    ``{figure}`` with ``:name:``), per chapter; the citations come from ``bibliography``
    (``book/references.bib``).
    """
    refs = References(chapter=chapter)
    if bibliography is not None and Path(bibliography).is_file():
        refs.citations, refs.entries = _bibliography(str(bibliography))
    for cell in nb.cells:
        if cell.cell_type == "code":
            name = ((cell.metadata.get("mystnb") or {}).get("figure") or {}).get("name")
            if name:
                refs.figures[name] = refs.number(len(refs.figures) + 1)
            continue
        if cell.cell_type != "markdown":
            continue
        text = cell.source
        for _, end in _display_math(text):
            label = EQUATION_LABEL.match(text, end)
            if label:
                refs.equations[label["label"]] = refs.number(len(refs.equations) + 1)
        lines = text.splitlines()
        for i, line in enumerate(lines):
            opening = DIRECTIVE_OPEN.match(line)
            if opening and opening["name"] in ("math", "figure"):
                for option in lines[i + 1:]:
                    found = OPTION.match(option)
                    if not found:
                        break
                    label = found["value"].strip()
                    if opening["name"] == "math" and found["key"] == "label":
                        refs.equations[label] = refs.number(len(refs.equations) + 1)
                    if opening["name"] == "figure" and found["key"] == "name":
                        refs.figures[label] = refs.number(len(refs.figures) + 1)
            target = TARGET.match(line)
            if target:
                title = next((HEADING.match(later)["title"] for later in lines[i + 1:]
                              if HEADING.match(later)), target["label"])
                refs.sections[target["label"]] = title
    return refs


def _cite(role: str, content: str, refs: References) -> str:
    keys = [k.strip() for k in content.split(",") if k.strip()]
    for key in keys:
        if key not in refs.cited:
            refs.cited.append(key)
    labels = [refs.citations.get(k, k) for k in keys]
    if role in ("cite:t", "cite:ts", "cite:ct", "cite:cts"):
        textual = []
        for label in labels:
            who, _, year = label.rpartition(", ")
            textual.append(f"{who} ({year})" if who else label)
        return "; ".join(textual)
    if role == "cite:year":
        return "; ".join(label.rpartition(", ")[2] for label in labels)
    if role == "cite:author":
        return "; ".join(label.rpartition(", ")[0] or label for label in labels)
    return f"({'; '.join(labels)})"


def _role(match: re.Match, refs: References) -> str:
    role, content = match["role"], match["content"]
    explicit = EXPLICIT.match(content)
    text, target = (explicit["text"], explicit["target"]) if explicit else ("", content)
    if role in CITE_ROLES:
        return _cite(role, content, refs)
    if role == "eq":
        return f"({refs.equations.get(target, target)})"
    if role == "numref":
        number = refs.figures.get(target) or refs.equations.get(target)
        if text and number:
            return text.replace("%s", number).replace("{number}", number)
        return f"Fig. {number}" if number else (text or target)
    if role == "ref":
        return text or refs.sections.get(target, target)
    if role == "math":
        return f"${content}$"
    if role in ("sub", "sup"):
        return f"<{role}>{content}</{role}>"
    if role == "abbr":
        return content.split("(")[0].strip()
    return text or target  # doc, download, term, ...: the words the reader should see


def _directive(name: str, arg: str, options: dict[str, str], body: str,
               refs: References) -> str:
    if name == "math":
        label = options.get("label")
        tag = f" \\tag{{{refs.equations[label]}}}" if label in refs.equations else ""
        return f"$$\n{body.strip()}{tag}\n$$"
    if name in ("figure", "image"):
        number = refs.figures.get(options.get("name", ""))
        alt = options.get("alt", body.strip() or arg)
        picture = f"![{alt}]({arg})"
        if name == "figure" and body.strip():
            caption = f"*Figure {number}: {body.strip()}*" if number else f"*{body.strip()}*"
            return f"{picture}\n\n{caption}"
        return picture
    if name in ("code", "code-block", "code-cell", "sourcecode"):
        return f"```{arg.strip()}\n{body}\n```"
    if name == "admonition" or name == "dropdown":
        title = arg.strip()
    elif name in ADMONITIONS:
        title = name.capitalize() + (f": {arg.strip()}" if arg.strip() else "")
    else:  # epigraph, margin, sidebar, ...: the content is what matters
        return body
    return f"**{title}**\n\n{body}" if title else body


def _closing(fence: str) -> re.Pattern:
    """The line that closes a fence: the same character, at least as many times."""
    return re.compile(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$")


def _convert_block(lines: list[str], refs: References) -> list[str]:
    """Directives and targets of ``lines`` rewritten; code fences left alone."""
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        opening = DIRECTIVE_OPEN.match(line)
        if opening:
            closing = _closing(opening["fence"])
            j, options = i + 1, {}
            while j < len(lines) and OPTION.match(lines[j]):
                found = OPTION.match(lines[j])
                options[found["key"]] = found["value"].strip()
                j += 1
            body_start = j
            while j < len(lines) and not closing.match(lines[j]):
                j += 1
            body = "\n".join(_convert_block(lines[body_start:j], refs))
            converted = _directive(opening["name"], opening["arg"], options, body, refs)
            out.extend(converted.splitlines())
            i = j + 1
            continue
        code = CODE_FENCE.match(line)
        if code:  # a plain code block: copied verbatim, roles and all
            closing = _closing(code["fence"])
            j = i + 1
            while j < len(lines) and not closing.match(lines[j]):
                j += 1
            out.extend(lines[i:j + 1])
            i = j + 1
            continue
        if TARGET.match(line) or line.startswith("+++") or re.match(r"^%( |$)", line):
            i += 1  # targets, block breaks and MyST comments have no plain form
            continue
        out.append(ROLE.sub(lambda m: _role(m, refs), line))
        i += 1
    return out


def _tag_equations(text: str, refs: References) -> str:
    """``$$ ... $$ (label)`` -> ``$$ ... \\tag{1.3} $$``."""
    pieces, last = [], 0
    for _, end in _display_math(text):
        label = EQUATION_LABEL.match(text, end)
        if not label:
            continue
        number = refs.equations.get(label["label"])
        tag = f" \\tag{{{number}}}" if number else ""
        pieces.append(text[last:end - 2].rstrip() + f"{tag} $$")
        last = label.end()
    pieces.append(text[last:])
    return "".join(pieces)


def to_plain(text: str, refs: References) -> str:
    """One markdown cell's MyST rewritten as plain Markdown (see the module docstring)."""
    text = _tag_equations(text, refs)
    return "\n".join(_convert_block(text.splitlines(), refs))


def roles_in_code(source: str, refs: References) -> str:
    """A code cell's source with the reference roles in its strings made plain text.

    Chapter cells that display Markdown (``md(...)``) write roles into their strings;
    left alone they would show raw below the cell once the edition runs.
    """
    return CODE_ROLE.sub(lambda m: _role(m, refs), source)


def reference_list(refs: References) -> str | None:
    """A "References" section for the works cited (through :func:`to_plain`), or None."""
    if not refs.cited:
        return None
    lines = [f"- {refs.entries.get(key, key)}" for key in refs.cited]
    return "## References\n\n" + "\n".join(lines)


LEFTOVERS = {
    "role": ROLE,
    "directive": re.compile(r"^[ \t]*(`{3,}|:{3,})\{[\w:-]+\}", re.MULTILINE),
    "target": re.compile(r"^\([^()\s]+\)=[ \t]*$", re.MULTILINE),
    "directive option": re.compile(r"^:(class|name|label|width|align|alt|open):", re.MULTILINE),
}


def leftover_myst(text: str) -> list[str]:
    """MyST markup left in ``text``: ``["role: {cite}`x`", ...]`` (empty when plain)."""
    found = [f"{kind}: {m.group(0).strip()}" for kind, pattern in LEFTOVERS.items()
             for m in pattern.finditer(text)]
    for _, end in _display_math(text):
        label = EQUATION_LABEL.match(text, end)
        if label:
            found.append(f"equation label: {label.group(0).strip()}")
    return found
