"""Generate docs/configuration.md from the config schema (the pydantic model), so the reference
can never disagree with what the engine accepts. tests/integration/test_docs.py checks it is
current.

    python scripts/gen_config_docs.py            # rewrite docs/configuration.md
"""

import re
import sys
from pathlib import Path

from pydantic import BaseModel

from engine.batch.config import LIFESTYLE_PROFILES, THERAPY_PRESETS, RunConfig

OUT = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"


def _bounds(field) -> str:
    parts = []
    for m in field.metadata:
        for attr, sym in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
            v = getattr(m, attr, None)
            if v is not None:
                parts.append(f"{sym} {v}")
        if getattr(m, "pattern", None):
            parts.append(f"matches `{m.pattern}`")
    return ", ".join(parts)


def _type(annotation) -> str:
    text = str(annotation).replace("typing.", "").replace("engine.batch.config.", "")
    # a validated item type reads as its base type (the validator is in the "allowed" rules)
    text = re.sub(r"Annotated\[(\w+), [^\[\]]*\]", r"\1", text)
    text = text.replace("<class '", "").replace("'>", "")
    if "Annotated[float" in text:
        text = "dict[str, float]"
    return text


def _section(name: str, model: type[BaseModel], lines: list[str]) -> None:
    doc = (model.__doc__ or "").strip()
    lines.append(f"## `[{name}]`\n")
    if doc and not doc.startswith(model.__name__ + "("):
        lines.append(doc + "\n")
    lines.append("| field | type | default | allowed | meaning |")
    lines.append("|---|---|---|---|---|")
    nested = []
    for fname, field in model.model_fields.items():
        ann = field.annotation
        subs = [
            a
            for a in (ann, *getattr(ann, "__args__", ()))
            if isinstance(a, type) and issubclass(a, BaseModel)
        ]
        if subs:
            nested.append((f"{name}.{fname}", subs[0]))
        default = field.get_default(call_default_factory=True)
        if field.is_required():
            default = "required"
        elif isinstance(default, BaseModel):
            default = "(section)"
        elif isinstance(default, list) and default and isinstance(default[0], BaseModel):
            default = f"{len(default)} entries"
        desc = (field.description or "").replace("|", "\\|").replace("\n", " ")
        lines.append(f"| `{fname}` | `{_type(ann)}` | `{default}` | {_bounds(field)} | {desc} |")
    lines.append("")
    for sub_name, sub in nested:
        if sub_name.count(".") < 2:
            _section(sub_name, sub, lines)


def render() -> str:
    lines = [
        "# Configuration reference",
        "",
        "Generated from the pydantic schema by `scripts/gen_config_docs.py`; "
        "`t1dmc config schema` prints the same as JSON schema and `t1dmc config check FILE` "
        "validates a file. Unknown fields are refused; every error names the field, the "
        "value and what is allowed.",
        "",
    ]
    for name, field in RunConfig.model_fields.items():
        ann = field.annotation
        model = next(
            a
            for a in (ann, *getattr(ann, "__args__", ()))
            if isinstance(a, type) and issubclass(a, BaseModel)
        )
        _section("[meals]" if name == "meals" else name, model, lines)
    lines += [
        "## Presets",
        "",
        "`therapy.kind` selects a preset; any field given overrides it:",
        "",
    ]
    for kind, values in THERAPY_PRESETS.items():
        lines.append(f"- `{kind}`: " + ", ".join(f"{k} = {v}" for k, v in values.items()))
    lines += ["", "`lifestyle.profile` selects a preset; any field given overrides it:", ""]
    for kind, values in LIFESTYLE_PROFILES.items():
        lines.append(
            f"- `{kind}`: "
            + (", ".join(f"{k} = {v}" for k, v in values.items()) or "the field defaults")
        )
    return "\n".join(lines).replace("## `[[meals]]`", "## `[[meals]]` (a list of slots)") + "\n"


if __name__ == "__main__":
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(render())
    print(f"-> {OUT}", file=sys.stderr)
