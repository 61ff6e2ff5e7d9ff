import sys

from benchmarks.peers.main import main

sys.exit(main())
