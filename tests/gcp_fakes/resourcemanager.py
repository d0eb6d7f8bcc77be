"""A Cloud Resource Manager v1 fake: the projects that exist (`gcloud config set project` asks).

`projects.get` answers a Project resource
(https://cloud.google.com/resource-manager/reference/rest/v1/projects) for every project in
`projects`, and 403 for any other, as Google answers for a project you cannot see.
"""

from __future__ import annotations

from tests.gcp_fakes.server import Refused, Request, Service, route


class ResourceManager(Service):
    def __init__(self) -> None:
        super().__init__(api="cloudresourcemanager")
        self.projects: dict[str, dict] = {}

    def add_project(self, project_id: str, number: str = "123456789012") -> dict:
        self.projects[project_id] = {
            "projectId": project_id,
            "projectNumber": number,
            "name": project_id,
            "lifecycleState": "ACTIVE",
        }
        return self.projects[project_id]

    @route("GET", r"/v1/projects/(?P<project>[^/:]+)")
    def get(self, request: Request, project: str) -> dict:
        if project not in self.projects:
            raise Refused(403, f"The caller does not have permission (project {project})")
        return self.projects[project]
