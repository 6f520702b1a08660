"""The expectation suite guarding the merchant_features job: the standard checks of each source it reads."""
from etl.job import suite_for

SOURCES = ('app.merchants', 'app.orders', 'app.payments', 'app.disputes', 'app.reviews', 'app.loan_applications', 'fin.loans', 'ops.listing_flags', 'ops.matches', 'app.listings', 'app.requests')

SUITE = suite_for("merchant_features", SOURCES)
