import subprocess
import sys


def test_core_import_stays_light():
    code = (
        "import sys, oasst_quality, oasst_quality.agreement, oasst_quality.aggregation, oasst_quality.consensus, "
        "oasst_quality.skew, oasst_quality.language, oasst_quality.toxicity, oasst_quality.reward, "
        "oasst_quality.report, oasst_quality.cli; "
        "print(sorted(m for m in ('torch', 'transformers', 'detoxify', 'lingua', 'langdetect') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
