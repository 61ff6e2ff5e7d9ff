"""The shop's billing: receipts (the copy-paste acceptance test's culprit)."""
