"""MLP training throughput, glassnet vs PyTorch (one row of ``python -m benchmarks``).

    python benchmarks/mlp.py [--rounds 5]
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.__main__ import main  # noqa: E402

if __name__ == "__main__":
    main(["--only", "mlp", "--no-memory"] + sys.argv[1:])
