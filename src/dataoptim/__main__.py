import sys

from dataoptim.cli import main

sys.exit(main())
