"""The on-disk project: SQLite store, schema and migrations, records, and import of what the readers return.

The names below are this subpackage's public face: the app and the other subpackages use these. They load
on first use (lazy_loader), so importing the package stays cheap (no torch until something needs it).
"""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submodules=["importing", "records", "schema", "store"],
    submod_attrs={
        "importing": ["EMBEDDED_IMAGES_DIR", "import_people", "load_project_template"],
        "records": ["FIT_FILTERS", "FitRecord", "PersonRow", "RoundRecord"],
        "store": ["DB_NAME", "Project", "ProjectError"],
    },
)
