import sys

from peekless.cli import main

sys.exit(main())
