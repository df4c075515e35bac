"""The Jinja2 templates, as the package `ssc_infra.templates` (pyproject.toml maps it here):
every host file's at the top, the drift report's page and stylesheet in report/.

No code: this file only makes the folder a package, so that the wheel carries it and
`importlib.resources.files("ssc_infra.templates")` finds it, installed or in a checkout.
"""
