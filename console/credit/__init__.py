"""Merchant credit ratings: the scorecard configuration, set-based scoring, monitoring maths.

Staff-facing entry points (role checks, audit) are in console/services/credit.py.
"""
