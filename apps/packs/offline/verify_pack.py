#!/usr/bin/env python3
"""Verify this evidence pack offline: python verify_pack.py [PACK.zip | DIRECTORY] [--trusted-key KEY].

Needs Python 3.9+ and the `cryptography` package only. See README.md next to this script.
"""

import sys
from pathlib import Path

sys.dont_write_bytecode = True  # leave the unpacked pack exactly as it was signed
sys.path.insert(0, str(Path(__file__).resolve().parent))

from packverify.core import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
