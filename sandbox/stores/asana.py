"""One Asana workspace: users, projects, sections and tasks, in Asana's own shapes.

Facts followed (reference/providers.md §2): gids are numeric strings; timestamps are ISO 8601
UTC with milliseconds and `Z`; `due_on` is a date; deleted tasks simply vanish from listings
(polling with `modified_since` cannot notice; the events stream says `deleted`); moving a task
between projects does not bump `modified_at`. Every change after the world is generated goes
through the methods below, which also record the events Asana would report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sandbox.ids import asana_gid
from sandbox.stores.asana_events import EventLog, iso_ms

# The task field a change edits, the attribute holding it, and the story Asana adds for it
# (story subtype names as seen in Asana's API; not enumerated in its OpenAPI).
TASK_FIELDS = {"name": ("name", "name_changed"), "due_on": ("due_on", "due_date_changed"),
               "assignee": ("assignee_gid", "assigned"), "completed": ("completed", "marked_complete")}


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
    events: EventLog = field(init=False)

    def __post_init__(self) -> None:
        self.events = EventLog(self.gid)

    # -- building blocks (no events: the generator builds the world's past with these) --------

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

    # -- changes Asana reports as events (change batches call these) ----------------------------

    def create_task(self, task: Task, at: int) -> None:
        """Add a task to its project and section: `added` under each, as Asana reports it."""
        self.add_task(task)
        for parent in (self.compact("project", task.project_gid), self.compact("section", task.section_gid)):
            self._record(task, at, "added", parent=parent)

    def edit_task(self, task: Task, at: int, name: str, value: object) -> None:
        """Set one field (`TASK_FIELDS`), bump modified_at, and report `changed` plus its story."""
        attribute, story = TASK_FIELDS[name]
        setattr(task, attribute, value)
        if name == "completed":
            task.completed_ms = at if value else None
        task.modified_ms = at
        change = {"field": name, "action": "changed"}
        if name == "assignee":  # new_value only when the value is a resource (OpenAPI EventResponse)
            change["new_value"] = self.compact("user", task.assignee_gid)
        actor = task.assignee_gid if name == "completed" and task.assignee_gid else None
        self._record(task, at, "changed", change=change, actor=actor)
        self._story(task, at, story, actor)

    def move_task_to_section(self, task: Task, section_gid: str, at: int) -> None:
        """Move within the project: the task is `added` to the new section."""
        task.section_gid, task.modified_ms = section_gid, at
        self._record(task, at, "added", parent=self.compact("section", section_gid))
        self._story(task, at, "section_changed")

    def move_task_to_project(self, task: Task, target: Project, at: int) -> None:
        """Move to another project: `removed` from the old one, `added` to the new; modified_at stays."""
        self._record(task, at, "removed", parent=self.compact("project", task.project_gid))
        self.projects[task.project_gid].task_gids.remove(task.gid)
        task.project_gid, task.section_gid = target.gid, target.section_gids[0]
        target.task_gids.append(task.gid)
        for parent in (self.compact("project", target.gid), self.compact("section", task.section_gid)):
            self._record(task, at, "added", parent=parent)

    def remove_task(self, gid: str, at: int) -> None:
        """Delete a task: it vanishes from listings and its streams report `deleted`."""
        self._record(self.tasks[gid], at, "deleted")
        self.delete_task(gid)

    def create_project(self, project: Project, sections: list[Section], at: int) -> None:
        self.add_project(project, sections)
        self._record_project(project, at, "added", parent=self.compact("workspace", self.gid))

    def archive_project(self, project: Project, at: int) -> None:
        project.archived, project.modified_ms = True, at
        self._record_project(project, at, "changed", change={"field": "archived", "action": "changed"})

    def remove_project(self, gid: str, at: int) -> None:
        """Delete a project and, as Asana does for single-homed tasks, the tasks in it; each `deleted`."""
        for task_gid in list(self.projects[gid].task_gids):
            self.remove_task(task_gid, at)
        self._record_project(self.projects[gid], at, "deleted")
        self.deleted_projects[gid] = self.projects.pop(gid)

    def _owner(self) -> str:
        return next(iter(self.users))

    def _record(self, task: Task, at: int, action: str, *, parent: dict | None = None,
                change: dict | None = None, actor: str | None = None) -> None:
        """Report a task event on the task's stream and, bubbling up, its project's."""
        resource = {"gid": task.gid, "resource_type": "task", "name": task.name}
        self.events.record(at, action, resource, (task.gid, task.project_gid), parent=parent, change=change,
                           user=self.compact("user", actor or self._owner()))

    def _story(self, task: Task, at: int, subtype: str, actor: str | None = None) -> None:
        """Asana adds a system story to the task for most edits; it bubbles up like the edit."""
        story = {"gid": asana_gid(self.gid, "story", self.events.head + 1), "resource_type": "story",
                 "resource_subtype": subtype}
        self.events.record(at, "added", story, (task.gid, task.project_gid),
                           parent={"gid": task.gid, "resource_type": "task", "name": task.name},
                           user=self.compact("user", actor or self._owner()))

    def _record_project(self, project: Project, at: int, action: str, **details) -> None:
        self.events.record(at, action, self.compact("project", project.gid), (project.gid,),
                           user=self.compact("user", self._owner()), **details)

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
