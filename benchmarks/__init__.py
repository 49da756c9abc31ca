"""Side-by-side benchmarks: PyPI supervisord against supervisord_lite, in one run.

`python -m benchmarks [--quick] [--only NAME,...]` prints one markdown table
(workload | metric | supervisord | supervisord_lite | ratio). docs/benchmarks.md
explains every figure.
"""
