# An index on job (workflow_id, status) for claims, which ask for a workflow's ready jobs in
# ID order ("... WHERE workflow_id = ? AND status = ? ORDER BY id LIMIT ?").
#
# The (workflow_id, status, resource_requirements_id) index orders each status by
# requirements first, so SQLite walked the workflow's jobs in ID order instead, past every
# finished one: the later in a large workflow, the slower each claim (113 us per claim at
# 1,000 jobs a workflow, growing with the workflow). SQLite ends every index with the rowid,
# so this one hands out ready jobs in ID order directly.


def up(migrator, db):
    db.execute_sql('CREATE INDEX IF NOT EXISTS "job_workflow_id_status" ON "job" ("workflow_id", "status")')


def down(migrator, db):
    db.execute_sql('DROP INDEX IF EXISTS "job_workflow_id_status"')
