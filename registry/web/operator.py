"""Operator pages (issue 13 item 4): my carriers, edits, annual reports, alerts."""
