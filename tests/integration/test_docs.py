from pathlib import Path

import pytest


def test_configuration_reference_is_generated_from_the_current_schema():
    import importlib.util

    path = Path(__file__).parents[2] / "scripts" / "gen_config_docs.py"
    spec = importlib.util.spec_from_file_location("gen_config_docs", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    current = (Path(__file__).parents[2] / "docs" / "configuration.md").read_text()
    assert mod.render() == current, "run: python scripts/gen_config_docs.py"


def test_results_reference_is_generated_from_the_declarations():
    import importlib.util

    path = Path(__file__).parents[2] / "scripts" / "gen_results_docs.py"
    spec = importlib.util.spec_from_file_location("gen_results_docs", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    current = (Path(__file__).parents[2] / "docs" / "results.md").read_text()
    assert mod.render() == current, "run: python scripts/gen_results_docs.py"
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
