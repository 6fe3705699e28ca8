"""``fertk/engine/`` (training) is now ``fertk/training/``; the old path is an alias for one
release, giving the very same modules with a DeprecationWarning."""

from __future__ import annotations

import subprocess
import sys


def test_old_training_path_is_the_same_modules_with_a_warning():
    code = (
        "import warnings; warnings.simplefilter('error', DeprecationWarning)\n"
        "import fertk.training.train as new, fertk.training.config as cfg\n"
        "try:\n"
        "    import fertk.engine.train\n"
        "    raise SystemExit('no warning')\n"
        "except DeprecationWarning as w:\n"
        "    assert 'fertk.training' in str(w)\n"
        "warnings.simplefilter('ignore', DeprecationWarning)\n"
        "import fertk.engine.train as old\n"
        "from fertk.engine.config import build_config\n"
        "assert old is new and build_config is cfg.build_config\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
