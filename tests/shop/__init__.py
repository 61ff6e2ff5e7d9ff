"""A small shop's code for the routing tests: payments code has an owner, catalog code not."""
