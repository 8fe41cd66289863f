"""Presets and the files that hold them: URL rules, the built-in catalog, the store on disk.

Imports only `compat_nb.errors`; knows nothing of HTTP, IPython or widgets.
"""
