"""Peer suites: Starlette's and Flask's own test suites, run with and without erralert.

``python -m benchmarks.peers [--webhook up|down] [starlette] [flask]`` fetches the
installed versions' source distributions, runs each suite twice — unwrapped, then with
every app it builds wrapped in erralert (:mod:`benchmarks.peers.wrapping`) — and exits 1
when a test that passed unwrapped fails wrapped, printing those tests and why. Modules:
:mod:`~benchmarks.peers.suites` (fetch, unpack, environment, one run),
:mod:`~benchmarks.peers.plugin` (the pytest plugin both runs load),
:mod:`~benchmarks.peers.outcomes` (results and the comparison),
:mod:`~benchmarks.peers.report` (the printout), :mod:`~benchmarks.peers.main`.
"""
