"""PDF reports on the audit trail: the compliance report (compliance.py) and the layout they share (pdf.py)."""
