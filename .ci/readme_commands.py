"""Print one of the README's two Quickstart commands: `quickstart` (line 1) or `test` (line 2)."""

import re
import sys
from pathlib import Path

text = Path(__file__).resolve().parent.parent.joinpath("README.md").read_text()
section = re.search(r"^##\s+Quickstart\s*$(.*?)(?=^##\s)", text + "\n## end\n", re.M | re.S)
block = re.search(r"```(?:sh|bash|console|shell)\n(.*?)```", section.group(1), re.S)
lines = [ln.strip().removeprefix("$ ").strip() for ln in block.group(1).splitlines()
         if ln.strip() and not ln.strip().startswith("#")]
assert len(lines) == 2, f"the Quickstart block must hold exactly two commands, found {len(lines)}"
print(lines[{"quickstart": 0, "test": 1}[sys.argv[1]]])
