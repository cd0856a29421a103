import sys
from pathlib import Path

# The deployment scripts import their sibling runtime, onnx_infer.py, as a
# script run from tools/deployment/ does.
DEPLOYMENT = str(Path(__file__).resolve().parents[2] / "tools" / "deployment")
if DEPLOYMENT not in sys.path:
    sys.path.insert(0, DEPLOYMENT)
