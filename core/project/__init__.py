"""The on-disk project: SQLite store, schema and migrations, records, and import of what the readers return."""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submodules=[
        "content_identity", "fit_history", "importing", "job_lock", "people", "records", "round_records", "schema",
        "store", "templates",
    ],
    submod_attrs={
        "importing": ["EMBEDDED_IMAGES_DIR", "ImportReport", "import_people"],
        "job_lock": ["LOCK_NAME", "project_job", "read_lock"],
        "records": [
            "FIT_FILTERS", "FIT_REVIEW_STATUSES", "FitRecord", "PersonRecord", "PersonRow", "ProjectBusy", "ReviewRecord",
            "RoundRecord", "person_label",
        ],
        "store": ["DB_NAME", "Project", "ProjectError"],
        "templates": ["check_template", "load_project_template", "template_from_spec"],
    },
)
