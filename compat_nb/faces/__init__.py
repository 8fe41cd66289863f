"""What users touch: the `%%translate` magic and its commands, the settings panel, live views.

May import every layer below it (work, local, wire, config, errors); nothing imports it but
the package's lazy exports and `load_ipython_extension`.
"""
