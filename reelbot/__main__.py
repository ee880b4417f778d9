import sys

from reelbot.cli import main

sys.exit(main())
