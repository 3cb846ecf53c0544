"""Print the "what won where" table of the one sweep under a ``paths.root`` as one JSON line:
``{"markdown": ..., "rows": [...], "summary": ...}``. Run by ``architectures.py`` in its own
process, so that the bench driver imports neither MLflow nor the report."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

from aesweep.report import build_report, format_what_won_where, what_won_where


def main() -> None:
    root = Path(sys.argv[1])
    report = build_report(f"sqlite:///{root / 'mlflow.db'}")
    table = what_won_where(report)
    winners = Counter(w.split(" (")[0] for w in table["winner"])
    summary = (f"{report.metric}: winners over {len(table)} architecture x bottleneck rows: "
               + ", ".join(f"{name} {n}" for name, n in winners.most_common()))
    print(json.dumps({"markdown": format_what_won_where(report), "summary": summary,
                      "metric": report.metric, "rows": table.to_dict(orient="records")}))


if __name__ == "__main__":
    main()
