"""The order-loan services (订单贷, issue 19) live in console/finance/loans.py with the rest of
dealer finance; call them there. Importing the module here puts its gated services where
every gated service is found: the role matrix (tests/test_roles.py walks console.services;
tests/data/role_matrix.csv names them ``console.finance.loans.*``) and the tests' dh_console
wrapper (tests/conftest.py)."""
from console.finance import loans  # noqa: F401
