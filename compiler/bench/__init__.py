"""Engine benchmarks on the emulated boards (`make bench`, `python -m compiler.bench`)."""
