"""Schema creation, in-place migration, refusal of newer databases, and cascading deletes."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from app.models import db as db_module
from app.models.migrate import SchemaError
from app.models.tables import ALL_MODELS
from tests.helpers import Api, ServerProcess, spec_payload, wait_for

ALL_MIGRATIONS = [
    "0001_initial",
    "0002_ids_never_reused",
    "0003_ready_job_order_index",
    "0004_workflow_purge",
    "0005_resource_requirement_names_may_repeat",
]


def applied(path: Path) -> list[str]:
    with sqlite3.connect(path) as conn:
        return [row[0] for row in conn.execute("SELECT name FROM schema_migration ORDER BY id")]


def test_fresh_database_gets_every_table(tmp_path: Path) -> None:
    path = tmp_path / "fresh.db"
    db_module.open_database(str(path))
    db_module.close_database()
    with sqlite3.connect(path) as conn:
        tables = {
            row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
        journal = conn.execute("PRAGMA journal_mode").fetchone()[0]
    assert {model._meta.table_name for model in ALL_MODELS} <= tables
    assert applied(path) == ALL_MIGRATIONS
    assert journal == "wal"


def test_reopening_keeps_data_and_applies_nothing_twice(tmp_path: Path) -> None:
    path = tmp_path / "keep.db"
    db_module.open_database(str(path))
    from app.models import records

    workflow_id = records.create_workflow({"name": "kept", "user": "u"})
    db_module.close_database()
    db_module.open_database(str(path))
    from app.models.tables import Workflow

    assert Workflow.get_by_id(workflow_id).name == "kept"
    db_module.close_database()
    assert applied(path) == ALL_MIGRATIONS


def test_new_migration_is_applied_in_place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "old.db"
    db_module.open_database(str(path))
    from app.models import records

    workflow_id = records.create_workflow({"name": "before-upgrade", "user": "u"})
    db_module.close_database()

    newer = tmp_path / "migrations"
    shutil.copytree(db_module.MIGRATIONS_DIR, newer)
    (newer / "0003_add_workflow_project.py").write_text(
        "from peewee import TextField\n\n"
        "def up(migrator, db):\n"
        "    migrator.migrate(migrator.add_column('workflow', 'project', TextField(null=True)))\n"
    )
    monkeypatch.setattr(db_module, "MIGRATIONS_DIR", newer)
    monkeypatch.setattr("app.models.migrate.MIGRATIONS_DIR", newer)
    db_module.open_database(str(path))
    db_module.close_database()
    with sqlite3.connect(path) as conn:
        columns = {row[1] for row in conn.execute("PRAGMA table_info(workflow)")}
        name = conn.execute("SELECT name FROM workflow WHERE id = ?", (workflow_id,)).fetchone()
    assert "project" in columns
    assert name == ("before-upgrade",)
    assert applied(path) == [*ALL_MIGRATIONS, "0003_add_workflow_project"]


def test_ids_are_never_reused(api: Api) -> None:
    """Deleting the newest record and creating another must not hand out its ID again: a
    runner or script still holding the old ID would take the new record for it."""
    doomed = api.workflow("newest")
    job = api.job(doomed, "j")
    api.delete(f"/workflows/{doomed}")
    again = api.workflow("next")
    assert again > doomed
    other = api.job(again, "k")
    assert other > job
    api.delete(f"/jobs/{other}")
    assert api.job(again, "k2") > other
    # Bulk creation assigns IDs up front (next_ids): past the deleted ones as well.
    payload = spec_payload([{"name": "a", "command": "true"}, {"name": "b", "command": "true"}])
    created = api.post("/workflow_specs", payload)
    jobs = api.get("/jobs", params={"workflow_id": created["workflow_id"]})["items"]
    api.delete(f"/workflows/{created['workflow_id']}")
    recreated = api.post("/workflow_specs", payload)
    assert recreated["workflow_id"] > created["workflow_id"]
    new_jobs = api.get("/jobs", params={"workflow_id": recreated["workflow_id"]})["items"]
    assert min(j["id"] for j in new_jobs) > max(j["id"] for j in jobs)


def schema_of(path: Path) -> tuple[dict[str, str], set[str]]:
    with sqlite3.connect(path) as conn:
        tables = dict(conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'"))
        indexes = {
            row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")
        }
    return tables, indexes


def dump(path: Path) -> dict[str, list[tuple]]:
    with sqlite3.connect(path) as conn:
        return {
            model._meta.table_name: conn.execute(
                f"SELECT * FROM {model._meta.table_name} ORDER BY 1, 2"
            ).fetchall()
            for model in ALL_MODELS
        }


def test_database_of_the_first_schema_migrates_in_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database made by 0001 alone gets AUTOINCREMENT without losing a row, an index or a
    foreign key. (IDs deleted before the upgrade left no trace; from then on none is reused.)"""
    path = tmp_path / "v1.db"
    first = tmp_path / "first_migrations"
    first.mkdir()
    shutil.copy(db_module.MIGRATIONS_DIR / "0001_initial.py", first)
    with monkeypatch.context() as patch:
        patch.setattr(db_module, "MIGRATIONS_DIR", first)
        patch.setattr("app.models.migrate.MIGRATIONS_DIR", first)
        db_module.open_database(str(path))
    from app.models import records
    from app.models.tables import File, Job, JobDependsOn, JobInputFile, Result

    kept = records.create_workflow({"name": "kept", "user": "u"})
    doomed = records.create_workflow({"name": "doomed", "user": "u"})
    rr = records.default_resource_requirements_id(kept)
    a = Job.insert(
        workflow_id=kept, name="a", command="true", resource_requirements_id=rr
    ).execute()
    b = Job.insert(
        workflow_id=kept, name="b", command="true", resource_requirements_id=rr
    ).execute()
    JobDependsOn.insert(job_id=b, depends_on_job_id=a, workflow_id=kept).execute()
    f = File.insert(workflow_id=kept, name="f", path="/tmp/f").execute()
    JobInputFile.insert(job_id=b, file_id=f, workflow_id=kept).execute()
    Result.insert(
        job_id=a, workflow_id=kept, run_id=1, compute_node_id=1, return_code=0,
        exec_time_minutes=0.1, completion_time="2025-01-01T00:00:00.000Z", status=5,
    ).execute()  # fmt: skip
    records.delete_workflow(doomed)
    db_module.close_database()
    assert applied(path) == ["0001_initial"]
    old_tables, old_indexes = schema_of(path)
    assert not any("AUTOINCREMENT" in sql for sql in old_tables.values())
    before = dump(path)

    db_module.open_database(str(path))
    newest = records.create_workflow({"name": "after-upgrade", "user": "u"})
    records.delete_workflow(records.create_workflow({"name": "gone", "user": "u"}))
    assert records.create_workflow({"name": "next", "user": "u"}) == newest + 2
    db_module.close_database()
    assert applied(path) == ALL_MIGRATIONS
    tables, indexes = schema_of(path)
    assert indexes == old_indexes | {"job_workflow_id_status"}  # added by 0003
    for table in ("workflow", "job", "result", "event", "file", "compute_node", "user_data"):
        assert '"id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT' in tables[table], table
    for table, sql in old_tables.items():  # the rest of every definition is unchanged
        assert tables[table].replace(" AUTOINCREMENT", "") == sql, table
    after = dump(path)
    assert after["workflow"][: len(before["workflow"])] == before["workflow"]
    for table in ("job", "job_depends_on", "job_input_file", "file", "result"):
        assert after[table] == before[table], table
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA foreign_keys = ON")
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        conn.execute("DELETE FROM workflow WHERE id = ?", (kept,))  # still cascades
        assert conn.execute("SELECT COUNT(*) FROM job_depends_on").fetchone() == (0,)
        assert conn.execute("SELECT COUNT(*) FROM result").fetchone() == (0,)


def test_database_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "newer.db"
    db_module.open_database(str(path))
    db_module.close_database()
    with sqlite3.connect(path) as conn:
        conn.execute(
            "INSERT INTO schema_migration (name, applied) VALUES ('0099_future', '2030-01-01')"
        )
    with pytest.raises(SchemaError, match="newer version"):
        db_module.open_database(str(path))
    db_module.close_database()


def test_deleting_a_workflow_deletes_everything_it_owns(api: Api, server: ServerProcess) -> None:
    wf = api.workflow("doomed")
    keep = api.workflow("kept")
    f = api.file(wf, "f")
    data = api.post("/user_data", {"workflow_id": wf, "name": "d", "data": {"x": 1}})["id"]
    handler = api.post(
        "/failure_handlers", {"workflow_id": wf, "name": "h", "rules": '[{"exit_codes": [1]}]'}
    )["id"]
    a = api.job(
        wf, "a", output_file_ids=[f], output_user_data_ids=[data], failure_handler_id=handler
    )
    api.job(wf, "b", input_file_ids=[f], input_user_data_ids=[data])
    api.job(keep, "survivor")
    api.post(
        "/slurm_schedulers", {"workflow_id": wf, "account": "x", "nodes": 1, "walltime": "1:00:00"}
    )
    api.post("/local_schedulers", {"workflow_id": wf})
    api.post(
        "/scheduled_compute_nodes",
        {
            "workflow_id": wf,
            "scheduler_id": 1,
            "scheduler_config_id": 1,
            "scheduler_type": "slurm",
            "status": "pending",
        },
    )
    api.post(
        f"/workflows/{wf}/actions",
        {
            "workflow_id": wf,
            "trigger_type": "on_jobs_complete",
            "action_type": "run_commands",
            "action_config": {"commands": ["true"]},
            "job_ids": [a],
        },
    )
    api.post(f"/workflows/{wf}/remote_workers", ["host1", "user@host2:22"])
    group = api.post("/access_groups", {"name": "cascade-team"})["id"]
    api.post(f"/workflows/{wf}/access_groups", {"workflow_id": wf, "group_id": group})
    api.initialize(wf)
    api.claim(wf)
    api.finish(a)

    deleted = api.delete(f"/workflows/{wf}")
    assert deleted["id"] == wf
    # Its rows go in the background, in short transactions (app.models.purge).
    wait_for(lambda: not rows_of(server.database, wf))
    with sqlite3.connect(server.database) as conn:
        orphans = conn.execute(
            "SELECT COUNT(*) FROM workflow_action_job WHERE job_id NOT IN (SELECT id FROM job)"
        ).fetchone()[0]
        assert orphans == 0
    assert api.statuses(keep) == {"survivor": "uninitialized"}
    assert api.get(f"/access_groups/{group}")["name"] == "cascade-team"


def rows_of(database: Path, workflow_id: int) -> list[str]:
    """Tables that still hold rows of ``workflow_id``."""
    with sqlite3.connect(database) as conn:
        return [
            model._meta.table_name
            for model in ALL_MODELS
            if "workflow_id" in model._meta.fields
            and conn.execute(
                f"SELECT 1 FROM {model._meta.table_name} WHERE workflow_id = ? LIMIT 1",
                (workflow_id,),
            ).fetchone()
        ]
