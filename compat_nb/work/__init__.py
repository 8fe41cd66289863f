"""What users ask for: translations, comparisons, long texts and batches, the run history.

May import `compat_nb.wire`, `compat_nb.config` and `compat_nb.errors`; never IPython display
or widgets (a live view is passed in by `compat_nb.faces`).
"""
