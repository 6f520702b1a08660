"""The logistics desk (找物流, issue 20): transport requests and their tracking, carriers,
quotes, car-carrier loads, claims, ratings and carrier scores. Pure logic and gated services,
no streamlit; the pages are pages/ops_logistics_queue.py, pages/ops_transport.py and the
desk's other pages. The tables are schema ``lgx`` (sql/migrations/104_logistics.sql).

Modules: ``requests`` (a request from a merchant, a deal or the desk, and the checks that
its cars are the merchant's to move), ``tracking`` (the state machine, the queue, the
request page's reads, the timeline). console/services/logistics.py imports the gated
modules so the role matrix and the tests find them.
"""
