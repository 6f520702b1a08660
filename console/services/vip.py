"""The VIP membership services (会员体系, issue 19) live in console/finance/vip.py with the rest
of dealer finance; call them there. Importing the module here puts its gated services where
every gated service is found: the role matrix (tests/test_roles.py walks console.services;
tests/data/role_matrix.csv names them ``console.finance.vip.*``)."""
from console.finance import vip  # noqa: F401
