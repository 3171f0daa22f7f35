"""A campaign's templates: the prompt (and negative prompt) with {column} placeholders, and the output
file names ({campaign}/{format}/{row:03}-{segment}-{seed}).

Templates are parsed with string.Formatter and filled in here field by field: a field is a name and
nothing else, so `{segment.__class__}` or `{0[x]}` is refused rather than looked up, and nothing is
ever evaluated. `{{` and `}}` write literal braces.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping

# Private helpers of the export module: the same rules make export names and campaign names safe.
from desktop.library.export import _RESERVED, _UNSAFE, MAX_NAME_CHARS, _slug

DEFAULT_NAME_TEMPLATE = "{campaign}/{format}/{row:03}-{segment}-{seed}"
# What a name template may use besides the CSV's own columns.
NAME_FIELDS = ("campaign", "format", "row", "segment", "seed", "image", "width", "height", "model")


class TemplateError(ValueError):
    """One sentence naming the template and what to change."""


def _parts(template: str, what: str) -> list[tuple[str, str | None, str, str | None]]:
    try:
        return list(string.Formatter().parse(template))
    except ValueError:
        raise TemplateError(f"{what} has an unmatched {{ or }}: write {{{{ and }}}} for a literal brace.") from None


def placeholders(template: str, what: str, known: tuple[str, ...], source: str, allow_spec: bool = False) -> list[str]:
    """The fields template uses, in order; TemplateError for one that is not in known (naming the
    known ones, as found in source: "SEGMENTS.csv" or "the name template"), a positional {} field,
    a conversion (!r) or, unless allow_spec, a format spec."""
    fields: list[str] = []
    for _, field, spec, conversion in _parts(template, what):
        if field is None:
            continue
        if field == "" or field.isdigit():
            raise TemplateError(f"{what} has a placeholder {{{field}}} without a column name: write {{column}}.")
        if field not in known:
            listed = ", ".join(known)
            raise TemplateError(f"{what} uses {{{field}}}, but {source} has no such column; its columns are: {listed}.")
        if conversion is not None or (spec and not allow_spec) or "{" in (spec or ""):
            extra = f"!{conversion}" if conversion else f":{spec}"
            raise TemplateError(f"{what} writes {{{field}{extra}}}: write just {{{field}}}.")
        fields.append(field)
    return fields


def render(template: str, values: Mapping[str, object]) -> str:
    """template with each {field} replaced by values[field] (formatted by its spec, if any); the
    template was checked by placeholders() first. ValueError when a spec does not fit its value."""
    out: list[str] = []
    for literal, field, spec, _ in _parts(template, "the template"):
        out.append(literal)
        if field is not None:
            out.append(format(values[field], spec or ""))
    return "".join(out)


def check_name_template(template: str, columns: tuple[str, ...]) -> None:
    if not template.strip():
        raise TemplateError(f"--name-template is empty: use fields like {DEFAULT_NAME_TEMPLATE}.")
    known = tuple(dict.fromkeys((*NAME_FIELDS, *columns)))
    placeholders(template, "--name-template", known, "the name template", allow_spec=True)
    literal = "".join(part[0] for part in _parts(template, "--name-template"))
    if template.startswith(("/", "\\", "~")) or re.search(r"(^|[/\\])\.\.([/\\]|$)", literal):
        raise TemplateError("--name-template must stay inside --output: no leading / or ~, no '..'.")


def name_values(
    campaign: str, format_name: str, row: int, values: Mapping[str, str], segment: str, seed: int | None, **numbers
) -> dict[str, object]:
    """What a name template is filled from: words are made file-name safe (the same rules as export),
    numbers stay numbers so that {row:03} works."""
    filled: dict[str, object] = {column: _slug(value, 60) for column, value in values.items()}
    filled.update(
        campaign=_slug(campaign, 60),
        format=format_name.replace(":", "x"),
        row=row,
        segment=_slug(segment, 60),
        seed="noseed" if seed is None else seed,
        **numbers,
    )
    return filled


def output_name(template: str, filled: Mapping[str, object], extension: str = ".png") -> str:
    """The relative path (POSIX, no '..', no empty or reserved part) the template gives."""
    try:
        rendered = render(template, filled)
    except ValueError as exc:
        raise TemplateError(f"--name-template cannot be filled in ({exc}): check its {{field:format}} parts.") from None
    parts = [_component(part) for part in re.split(r"[/\\]", rendered)]
    if not all(parts):
        raise TemplateError(f"--name-template gives '{rendered}', which has an empty folder name: check the slashes.")
    return "/".join(parts) + extension


def _component(text: str) -> str:
    """One folder or file name: separators and control characters go, no dot-only names, not too long."""
    name = _UNSAFE.sub("-", text)
    name = re.sub(r"\.{2,}", ".", name).strip(" .-")[:MAX_NAME_CHARS].strip(" .-")
    if name and name.split(".")[0].lower() in _RESERVED:
        name = f"_{name}"
    return name
