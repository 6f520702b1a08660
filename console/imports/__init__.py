"""Parallel imports (平行进口车, issue 21): an import listing's market version, port and
availability (details.py), its four import documents and their review queue (documents.py),
and its price reference (prices.py). Schema: migration 109."""
