# IDs are never reused: every table with an integer "id" key gets AUTOINCREMENT.
#
# Without it SQLite hands the highest deleted ID to the next row, so deleting the newest
# workflow and creating another gave the new one the old ID, which runners and scripts still
# holding it would take for theirs. SQLite cannot add AUTOINCREMENT to a table, so each table
# is rebuilt the way SQLite documents ("Making Other Kinds Of Table Schema Changes"): create
# the new table from the old one's own definition, copy the rows, drop the old table, rename,
# recreate its indexes. The Runner turns foreign keys off around the migration (so the drop
# cascades nothing) and runs it in one transaction; the foreign keys are checked at the end.
import re

TABLES = (
    "access_group",
    "workflow",
    "compute_node",
    "event",
    "failure_handler",
    "file",
    "resource_requirements",
    "job",
    "user_data",
    "local_scheduler",
    "result",
    "scheduled_compute_node",
    "slurm_scheduler",
    "user_group_membership",
    "workflow_action",
)

KEY = '"id" INTEGER NOT NULL PRIMARY KEY'


def up(migrator, db):
    for table in TABLES:
        _rebuild_with_autoincrement(db, table)
    problems = db.execute_sql("PRAGMA foreign_key_check").fetchall()
    if problems:
        raise RuntimeError(f"foreign keys broken after the rebuild: {problems[:10]}")


def _rebuild_with_autoincrement(db, table):
    (create,) = db.execute_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", [table]
    ).fetchone()
    if "AUTOINCREMENT" in create.upper():
        return
    if KEY not in create:
        raise RuntimeError(f"table {table} has no {KEY} column: {create}")
    indexes = [
        row[0]
        for row in db.execute_sql(
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ?"
            " AND sql IS NOT NULL",
            [table],
        )
    ]
    staging = f"{table}__autoincrement"
    header = re.compile(rf'^CREATE TABLE (IF NOT EXISTS )?"?{re.escape(table)}"?\s*\(')
    new_create, replaced = header.subn(f'CREATE TABLE "{staging}" (', create, count=1)
    if not replaced:
        raise RuntimeError(f"unexpected definition of table {table}: {create}")
    db.execute_sql(new_create.replace(KEY, f"{KEY} AUTOINCREMENT", 1))
    db.execute_sql(f'INSERT INTO "{staging}" SELECT * FROM "{table}"')
    db.execute_sql(f'DROP TABLE "{table}"')
    db.execute_sql(f'ALTER TABLE "{staging}" RENAME TO "{table}"')
    for index in indexes:
        db.execute_sql(index)
