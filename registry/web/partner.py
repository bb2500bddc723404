"""Partner pages and the bureau review queue (issue 13 item 5)."""
