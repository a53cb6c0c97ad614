"""One Asana workspace: users, projects, sections and tasks, in Asana's own shapes.

Facts followed (reference/providers.md §2): gids are numeric strings; timestamps are ISO 8601
UTC with milliseconds and `Z`; `due_on` is a date; deleted tasks simply vanish from listings
(only `modified_since` polling plus reconciliation can notice); moving a task between projects
does not bump `modified_at`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timezone


def iso_ms(ms: int) -> str:
    """Format epoch milliseconds as Asana does: `2026-04-27T19:48:41.758Z`."""
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


@dataclass
class User:
    gid: str
    name: str
    email: str


@dataclass
class Section:
    gid: str
    name: str
    project_gid: str
    created_ms: int


@dataclass
class Project:
    gid: str
    name: str
    owner_gid: str
    created_ms: int
    modified_ms: int
    notes: str = ""
    archived: bool = False
    color: str = "light-green"
    start_on: date | None = None
    due_on: date | None = None
    section_gids: list[str] = field(default_factory=list)
    task_gids: list[str] = field(default_factory=list)


@dataclass
class Task:
    gid: str
    name: str
    project_gid: str
    section_gid: str
    created_ms: int
    modified_ms: int
    assignee_gid: str | None = None
    due_on: date | None = None
    completed: bool = False
    completed_ms: int | None = None
    notes: str = ""


@dataclass
class Workspace:
    """The studio's workspace with everything in it; deleted records are kept for ground truth."""

    gid: str
    name: str
    users: dict[str, User] = field(default_factory=dict)
    projects: dict[str, Project] = field(default_factory=dict)
    sections: dict[str, Section] = field(default_factory=dict)
    tasks: dict[str, Task] = field(default_factory=dict)
    deleted_tasks: dict[str, Task] = field(default_factory=dict)
    deleted_projects: dict[str, Project] = field(default_factory=dict)

    # -- mutations ---------------------------------------------------------------------------

    def add_project(self, project: Project, sections: list[Section]) -> None:
        self.projects[project.gid] = project
        for section in sections:
            self.sections[section.gid] = section
            project.section_gids.append(section.gid)

    def add_task(self, task: Task) -> None:
        self.tasks[task.gid] = task
        self.projects[task.project_gid].task_gids.append(task.gid)

    def delete_task(self, gid: str) -> None:
        task = self.tasks.pop(gid)
        self.projects[task.project_gid].task_gids.remove(gid)
        self.deleted_tasks[gid] = task

    def delete_project(self, gid: str) -> None:
        """Delete a project and, as Asana does for single-homed tasks, the tasks in it."""
        for task_gid in list(self.projects[gid].task_gids):
            self.delete_task(task_gid)
        self.deleted_projects[gid] = self.projects.pop(gid)

    # -- rendering ---------------------------------------------------------------------------

    def compact(self, kind: str, gid: str | None) -> dict | None:
        if gid is None:
            return None
        if kind == "user":
            return {"gid": gid, "name": self.users[gid].name, "resource_type": "user"}
        if kind == "project":
            project = self.projects.get(gid) or self.deleted_projects[gid]
            return {"gid": gid, "name": project.name, "resource_type": "project"}
        if kind == "section":
            return {"gid": gid, "name": self.sections[gid].name, "resource_type": "section"}
        return {"gid": self.gid, "name": self.name, "resource_type": "workspace"}

    def permalink(self, kind: str, gid: str) -> str:
        return f"https://app.asana.com/1/{self.gid}/{kind}/{gid}"

    def task_json(self, task: Task) -> dict:
        """The full task record; listings project it down with opt_fields."""
        project = self.compact("project", task.project_gid)
        return {
            "gid": task.gid,
            "resource_type": "task",
            "resource_subtype": "default_task",
            "name": task.name,
            "notes": task.notes,
            "html_notes": f"<body>{task.notes}</body>",
            "completed": task.completed,
            "completed_at": iso_ms(task.completed_ms) if task.completed_ms is not None else None,
            "due_on": task.due_on.isoformat() if task.due_on else None,
            "due_at": None,
            "start_on": None,
            "assignee": self.compact("user", task.assignee_gid),
            "created_at": iso_ms(task.created_ms),
            "modified_at": iso_ms(task.modified_ms),
            "memberships": [{"project": project, "section": self.compact("section", task.section_gid)}],
            "projects": [project],
            "parent": None,
            "num_subtasks": 0,
            "tags": [],
            "custom_fields": [],
            "permalink_url": self.permalink("task", task.gid),
            "workspace": self.compact("workspace", self.gid),
        }

    def project_json(self, project: Project) -> dict:
        return {
            "gid": project.gid,
            "resource_type": "project",
            "name": project.name,
            "archived": project.archived,
            "color": project.color,
            "notes": project.notes,
            "created_at": iso_ms(project.created_ms),
            "modified_at": iso_ms(project.modified_ms),
            "start_on": project.start_on.isoformat() if project.start_on else None,
            "due_on": project.due_on.isoformat() if project.due_on else None,
            "owner": self.compact("user", project.owner_gid),
            "permalink_url": self.permalink("project", project.gid),
            "public": True,
            "workspace": self.compact("workspace", self.gid),
        }

    def section_json(self, section: Section) -> dict:
        return {"gid": section.gid, "resource_type": "section", "name": section.name,
                "created_at": iso_ms(section.created_ms),
                "project": self.compact("project", section.project_gid)}

    def user_json(self, user: User) -> dict:
        return {"gid": user.gid, "resource_type": "user", "name": user.name, "email": user.email,
                "workspaces": [self.compact("workspace", self.gid)]}

    def workspace_json(self) -> dict:
        return {"gid": self.gid, "resource_type": "workspace", "name": self.name, "is_organization": False,
                "email_domains": []}
