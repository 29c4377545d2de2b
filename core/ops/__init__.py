"""Operating powerops: ticket signatures, ticket payloads, lock keys, approval rules, redaction, run summaries.

Pure logic only (no I/O, no Prefect): the Prefect-facing helpers live in ``flows/_ops.py`` and the ticket
service in ``deployments/ticketing/``.
"""
