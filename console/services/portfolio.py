"""The loan portfolio services (issue 19) live in console/finance/portfolio.py with the rest
of dealer finance; call them there. Importing the module here puts its gated services where
every gated service is found: the role matrix (tests/test_roles.py walks console.services;
tests/data/role_matrix.csv names them ``console.finance.portfolio.*``) and the tests' dh_console
wrapper (tests/conftest.py)."""
from console.finance import portfolio  # noqa: F401
