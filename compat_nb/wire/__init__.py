"""The HTTP side: the shared client, its retry core, SSE decoding, streaming, parsing, diagnosis.

May import `compat_nb.config` (a Preset value, URL rules) and `compat_nb.errors`; never the
store, IPython, widgets or files.
"""
