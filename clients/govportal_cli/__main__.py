"""`python -m govportal_cli ...`"""

import sys

from .cli import main

sys.exit(main())
