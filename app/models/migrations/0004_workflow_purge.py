# Workflows deleted whose rows are still being removed.
#
# Deleting a workflow of millions of jobs in one transaction held the database for minutes:
# every other write waited. Now the workflow row goes at once (the workflow is gone for every
# request) and its rows are removed in short transactions afterwards; this table remembers
# which workflows still have rows, so a restart finishes the job.


def up(migrator, db):
    db.execute_sql(
        'CREATE TABLE IF NOT EXISTS "workflow_purge" ('
        '"workflow_id" INTEGER NOT NULL PRIMARY KEY, "deleted_at" REAL NOT NULL)'
    )


def down(migrator, db):
    db.execute_sql('DROP TABLE IF EXISTS "workflow_purge"')
