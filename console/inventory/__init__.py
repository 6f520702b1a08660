"""Self-operated stock (自营车源, issue 21): the platform's own cars, bought, kept in its
warehouses and sold to dealers. Pure rules and gated services, no streamlit; the page is
pages/ops_stock.py. The tables are schema ``inv`` (sql/migrations/110_self_operated_stock.sql).

Modules: ``holding`` (days in stock, age bands, the holding cost, margins and the suggested
markdown: pure, the one place these numbers are computed, mirrored by the SQL in ``stock``),
``stock`` (the stock list, the ageing summary, the markdown list, a car's page), ``prices``
(asking and floor price changes), ``sales`` (reserve, release, sell).
console/services/inventory.py imports the gated modules so the role matrix and the tests
find them.
"""
