"""Parallel imports' services (平行进口车, issue 21) live in console/imports/; call them there.
Importing the gated modules here puts their services where every gated service is found: the
role matrix (tests/test_roles.py walks console.services; tests/data/role_matrix.csv names them
``console.imports.*``) and the tests' dh_console wrapper (tests/conftest.py)."""
from console.imports import documents  # noqa: F401
from console.imports import details  # noqa: F401
