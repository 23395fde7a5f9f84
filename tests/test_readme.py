"""README.md's results table is BENCHMARKS.md's, as `make bench-recipes` writes both."""

import importlib.util

from tests.conftest import ROOT


def test_the_readme_results_table_is_the_one_in_benchmarks_md():
    spec = importlib.util.spec_from_file_location("bench_recipes", ROOT / "benchmarks" / "recipes.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    rows = bench.table_rows(ROOT / "BENCHMARKS.md")
    assert len(rows) >= 6
    assert bench.readme_section(rows) in (ROOT / "README.md").read_text(encoding="utf-8")
