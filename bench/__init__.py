"""compat_nb's benchmarks: `python -m bench` runs them all and prints one table (see run.py)."""
