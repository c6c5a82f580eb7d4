"""The on-disk project: SQLite store, schema and migrations, records, and import of what the readers return."""

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
