"""The stock desk's services (自营车源, issue 21) live in console/inventory/; call them there.
Importing the gated modules here puts their services where every gated service is found: the
role matrix (tests/test_roles.py walks console.services; tests/data/role_matrix.csv names them
``console.inventory.*``) and the tests' dh_console wrapper (tests/conftest.py)."""
from console.inventory import prices, sales, stock  # noqa: F401
