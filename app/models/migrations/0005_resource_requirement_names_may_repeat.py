# Resource requirement names may repeat within a workflow when created through the API.
#
# Upstream's schema has no unique constraint on (workflow_id, name), and its generated
# client's tests create two requirements of the same name in one workflow; here that was a
# 409 (UNIQUE constraint failed). Specs still refuse duplicate names (they refer to
# requirements by name), and the reserved name "default" is still refused by the API. The
# index stays, not unique: specs and the default requirement are looked up by name.


def up(migrator, db):
    db.execute_sql('DROP INDEX IF EXISTS "resourcerequirements_workflow_id_name"')
    db.execute_sql(
        'CREATE INDEX IF NOT EXISTS "resourcerequirements_workflow_id_name" '
        'ON "resource_requirements" ("workflow_id", "name")'
    )


def down(migrator, db):
    db.execute_sql('DROP INDEX IF EXISTS "resourcerequirements_workflow_id_name"')
    db.execute_sql(
        'CREATE UNIQUE INDEX IF NOT EXISTS "resourcerequirements_workflow_id_name" '
        'ON "resource_requirements" ("workflow_id", "name")'
    )
