"""Throw generated hostile configs at the config parser and tally the outcomes: accepted, or
refused by kind of error. Anything else (a traceback) is a bug and is printed.

    python scripts/fuzz_configs.py [n]
"""

import collections
import re
import sys
import warnings

from hypothesis.errors import NonInteractiveExampleWarning

sys.path.insert(0, "tests")
from test_hardening import hostile_configs  # noqa: E402

from engine.batch.config import ConfigError, parse_config  # noqa: E402
from engine.batch.scenarios import expand  # noqa: E402


def kind_of(line: str) -> str:
    if "unknown field" in line:
        return "unknown field"
    if "required field is missing" in line:
        return "missing field"
    m = re.search(r": (Input should be [a-z ]+|[a-z][a-z ]+)", line)
    return m.group(1)[:40] if m else line[:40]


def main(n: int = 2000) -> None:
    warnings.simplefilter("ignore", NonInteractiveExampleWarning)
    tally = collections.Counter()
    errors = collections.Counter()
    strategy = hostile_configs()
    for _ in range(n):
        cfg = strategy.example()
        try:
            expand(parse_config(cfg))
            tally["accepted"] += 1
        except ConfigError as err:
            tally["refused"] += 1
            for line in str(err).splitlines()[1:]:
                errors[kind_of(line.strip())] += 1
        except Exception as err:  # noqa: BLE001 - this is what we are looking for
            tally["TRACEBACK"] += 1
            print(repr(cfg), type(err).__name__, err)
    print(f"{n} generated configs: " + ", ".join(f"{k} {v}" for k, v in tally.items()))
    for kind, count in errors.most_common(12):
        print(f"  {count:6d}  {kind}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
