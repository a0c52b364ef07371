from pathlib import Path

import pytest

from tests.scripts import load_script

ROOT = Path(__file__).parents[2]


def _generated(script: str, doc: str) -> tuple[str, str]:
    """(what scripts/<script> renders now, what docs/<doc> holds)."""
    return load_script(script).render(), (ROOT / "docs" / doc).read_text()


def test_configuration_reference_is_generated_from_the_current_schema():
    rendered, current = _generated("gen_config_docs", "configuration.md")
    assert rendered == current, "run: python scripts/gen_config_docs.py"


def test_results_reference_is_generated_from_the_declarations():
    rendered, current = _generated("gen_results_docs", "results.md")
    assert rendered == current, "run: python scripts/gen_results_docs.py"
    from engine.model.glycaemia import DAILY_NAMES

    for name in DAILY_NAMES:  # the README points every daily variable to the reference
        assert f"| `{name}` |" in current


@pytest.mark.parametrize("name", ["model.md", "tutorial.md", "configuration.md"])
def test_docs_exist_and_name_real_commands(name):
    text = (Path(__file__).parents[2] / "docs" / name).read_text()
    assert len(text) > 1500
    for cmd in ("t1dmc run", "t1dmc report", "t1dmc validate"):
        if name == "tutorial.md":
            assert cmd in text
