"""``torc access-groups``: teams of users, and the workflows shared with them.

Who may run each command is decided by the server when it enforces access control
(docs/security.md): system admins create and delete groups; system admins and a group's
admins add and remove its members; a workflow's owner, a system admin or the group's admins
share a workflow with a group; anyone signed in lists and reads groups.
"""

from __future__ import annotations

import click

from cli.context import Context, pass_context
from cli.options import list_options

GROUP_COLUMNS = [("ID", "id"), ("Name", "name"), ("Description", "description")]
MEMBER_COLUMNS = [("User Name", "user_name"), ("Role", "role")]


@click.group("access-groups")
def group() -> None:
    """Access group management: teams, members and shared workflows."""


@group.command("create")
@click.argument("name")
@click.option("-d", "--description", help="What the group is for.")
@pass_context
def create(ctx: Context, name: str, description: str | None) -> None:
    """Create a group (system admins)."""
    record = {"name": name} if description is None else {"name": name, "description": description}
    created = ctx.client.create_access_group(record)
    lines = [
        "Successfully created access group:",
        f"  ID: {created['id']}",
        f"  Name: {created['name']}",
        f"  Description: {created.get('description') or ''}",
    ]
    ctx.emit(created, text="\n".join(lines))


@group.command("list")
@list_options(100, short_offset=True, sort=False)
@pass_context
def list_groups(ctx: Context, limit: int, offset: int) -> None:
    """List every group."""
    groups = list(ctx.client.list_access_groups(offset=offset, limit=limit))
    ctx.emit({"access_groups": groups}, rows=groups, columns=GROUP_COLUMNS)


@group.command("get")
@click.argument("group_id", type=int)
@pass_context
def get(ctx: Context, group_id: int) -> None:
    """Show one group."""
    ctx.emit(ctx.client.get_access_group(group_id))


@group.command("delete")
@click.argument("group_id", type=int)
@pass_context
def delete(ctx: Context, group_id: int) -> None:
    """Delete a group (system admins; never the system admin group)."""
    deleted = ctx.client.delete_access_group(group_id)
    ctx.emit(deleted, text=f"Successfully deleted access group {group_id} ({deleted['name']})")


@group.command("add-user")
@click.argument("group_id", type=int)
@click.argument("user_name")
@click.option(
    "-r",
    "--role",
    type=click.Choice(["member", "admin"]),
    default="member",
    show_default=True,
    help="A group admin may manage the group's members and share workflows with it.",
)
@pass_context
def add_user(ctx: Context, group_id: int, user_name: str, role: str) -> None:
    """Add a user to a group (system admins and the group's admins)."""
    membership = ctx.client.add_user_to_group(group_id, user_name, role)
    text = f"Successfully added user '{user_name}' to group {group_id} as {role}"
    ctx.emit(membership, text=text)


@group.command("remove-user")
@click.argument("group_id", type=int)
@click.argument("user_name")
@pass_context
def remove_user(ctx: Context, group_id: int, user_name: str) -> None:
    """Remove a user from a group (system admins and the group's admins)."""
    answer = ctx.client.remove_user_from_group(group_id, user_name)
    ctx.emit(answer, text=f"Successfully removed user '{user_name}' from group {group_id}")


@group.command("list-members")
@click.argument("group_id", type=int)
@pass_context
def list_members(ctx: Context, group_id: int) -> None:
    """List the members of a group and their roles."""
    members = list(ctx.client.list_group_members(group_id))
    ctx.emit({"members": members}, rows=members, columns=MEMBER_COLUMNS)


@group.command("list-user-groups")
@click.argument("user_name")
@pass_context
def list_user_groups(ctx: Context, user_name: str) -> None:
    """List the groups a user belongs to."""
    groups = list(ctx.client.list_user_groups(user_name))
    ctx.emit({"access_groups": groups}, rows=groups, columns=GROUP_COLUMNS)


@group.command("add-workflow")
@click.argument("workflow_id", type=int)
@click.argument("group_id", type=int)
@pass_context
def add_workflow(ctx: Context, workflow_id: int, group_id: int) -> None:
    """Share a workflow with a group (its owner, system admins, the group's admins)."""
    link = ctx.client.add_workflow_to_group(workflow_id, group_id)
    ctx.emit(link, text=f"Successfully added workflow {workflow_id} to group {group_id}")


@group.command("list-workflow-groups")
@click.argument("workflow_id", type=int)
@pass_context
def list_workflow_groups(ctx: Context, workflow_id: int) -> None:
    """List the groups a workflow is shared with."""
    groups = list(ctx.client.list_workflow_groups(workflow_id))
    ctx.emit({"access_groups": groups}, rows=groups, columns=GROUP_COLUMNS)


@group.command("remove-workflow")
@click.argument("workflow_id", type=int)
@click.argument("group_id", type=int)
@pass_context
def remove_workflow(ctx: Context, workflow_id: int, group_id: int) -> None:
    """Stop sharing a workflow with a group (its owner, system admins, the group's admins)."""
    answer = ctx.client.remove_workflow_from_group(workflow_id, group_id)
    ctx.emit(answer, text=f"Successfully removed workflow {workflow_id} from group {group_id}")
