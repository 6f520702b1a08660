"""The logistics desk's services (找物流, issue 20) live in console/logistics/ with the rest of
the desk; call them there. Importing the gated modules here puts their services where every
gated service is found: the role matrix (tests/test_roles.py walks console.services;
tests/data/role_matrix.csv names them ``console.logistics.*``) and the tests' dh_console
wrapper (tests/conftest.py)."""
from console.logistics import requests, tracking  # noqa: F401
from console.logistics import carriers, loads, quotes  # noqa: F401
from console.logistics import claims, dashboard, ratings  # noqa: F401
