import sys
from pathlib import Path

# Lets tests name their helper models as "user_models:tiny_net", as users name theirs.
sys.path.insert(0, str(Path(__file__).parent))
