"""Compile benchmark: 1,000 users from the sandbox's generator through models, documents,
configs and export; then a second run after 1% of users changed.

    .venv/bin/python bench/compile.py [--users 1000]

The warehouse is filled straight from the generator (not timed). Targets: the first run in
<= 60 s on this 2-core machine; the second run <= 10% of the first.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipelines.sync.snapshot import populate  # noqa: E402
from pipelines.documents.export import Exporter  # noqa: E402
from pipelines.models import ModelRunner  # noqa: E402
from pipelines.documents.publish import PublishSettings, publish  # noqa: E402
from pipelines.warehouse import open_warehouse  # noqa: E402
from sandbox.changes import apply_batch  # noqa: E402
from sandbox.world import World  # noqa: E402
from sylo.export_layout import ExportLayout  # noqa: E402

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=timezone.utc)


def compile_run(warehouse, exporter, user_ids: list[str], as_of: datetime) -> dict:
    started = time.perf_counter()
    ModelRunner(warehouse).run(user_ids, as_of)
    models_s = time.perf_counter() - started
    results = publish(warehouse, exporter, user_ids, as_of=as_of, settings=PublishSettings("https://sylo.example"),
                      workers=2)
    total = time.perf_counter() - started
    return {"users": len(user_ids), "models_s": round(models_s, 2), "documents_s": round(total - models_s, 2),
            "total_s": round(total, 2), "ms_per_user": round(total / len(user_ids) * 1000, 1),
            "users_written": sum(not r.unchanged for r in results),
            "files_written": sum(r.files_written for r in results)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=1000)
    args = parser.parse_args()
    world = World(1, NOW, 1.0)
    user_ids = world.initial_user_ids(args.users)
    with tempfile.TemporaryDirectory() as tmp:
        warehouse = open_warehouse(f"duckdb:///{tmp}/warehouse.duckdb", Path(tmp))
        exporter = Exporter(ExportLayout(Path(tmp) / "exports"))
        with warehouse.session():
            filled = time.perf_counter()
            populate(warehouse, world, user_ids, NOW)
            filled = time.perf_counter() - filled
            records = sum(world.user(u).record_count() for u in user_ids)
            ModelRunner(warehouse).prepare()
            first = compile_run(warehouse, exporter, user_ids, NOW + timedelta(minutes=5))

            changed = user_ids[::100]  # 1% of the users
            apply_batch(world, fraction=0.05, users=changed)
            populate(warehouse, world, changed, NOW)
            second = compile_run(warehouse, exporter, changed, NOW + timedelta(minutes=10))
            unchanged = compile_run(warehouse, exporter, changed, NOW + timedelta(minutes=15))
        warehouse.close()
    summary = {"users": args.users, "records": records, "populate_s": round(filled, 1), "first": first,
               "second": second, "second_vs_first": round(second["total_s"] / first["total_s"], 4),
               "no_change_rerun": unchanged}
    print(f"{args.users} users ({records} records) from the sandbox's generator, DuckDB")
    print(f"  first run   {first['total_s']} s = {first['ms_per_user']} ms/user "
          f"(models {first['models_s']} s, documents + configs + export {first['documents_s']} s), "
          f"{first['files_written']} files   (target <= 60 s)")
    print(f"  second run  {len(changed)} users changed: {second['total_s']} s = "
          f"{summary['second_vs_first']:.1%} of the first (target <= 10%), {second['files_written']} files")
    print(f"  again, nothing changed: {unchanged['total_s']} s, {unchanged['files_written']} files written")
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "compile.json").write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
