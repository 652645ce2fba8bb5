"""The example tests: each serves one folder of examples/ with the real ``kernel serve``."""
