"""An Artifact Registry v1 fake: Docker repositories and the images pushed to them.

Serves what `gcloud artifacts docker images describe` asks (cloudbuild.yaml's registry step):
the repository, a package's tag, and the docker image of a digest
(https://cloud.google.com/artifact-registry/docs/reference/rest). Images get in by `push`, which
the recording docker stand-in of the Cloud Build fake calls: a real push to a registry cannot
happen here. A repository's tags are immutable, as terraform/artifact_registry.tf makes them:
a second push of a tag is refused (https://cloud.google.com/artifact-registry/docs/docker/
manage-images#immutable-tags).
"""

from __future__ import annotations

import hashlib
import re
from urllib.parse import unquote

from tests.gcp_fakes.server import Refused, Request, Service, route

REPO = (
    r"/v1/projects/(?P<project>[^/]+)/locations/(?P<region>[^/]+)" r"/repositories/(?P<repo>[^/]+)"
)
# https://cloud.google.com/artifact-registry/docs/docker/names
# REGION-docker.pkg.dev/PROJECT/REPOSITORY/IMAGE:TAG
IMAGE = re.compile(
    r"(?P<region>[a-z]+-[a-z]+[0-9]+)-docker\.pkg\.dev/(?P<project>[a-z][-a-z0-9]{4,28}[a-z0-9])"
    r"/(?P<repo>[a-z]([-a-z0-9]{0,61}[a-z0-9])?)/(?P<image>[a-z0-9]+(?:[._/-][a-z0-9]+)*)"
    r":(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})"
)


class ArtifactRegistry(Service):
    """Repositories (`add_repository`) and `images[(repo path, image, tag)] = digest`."""

    def __init__(self) -> None:
        super().__init__(api="artifactregistry")
        self.repositories: dict[str, dict] = {}
        self.images: dict[tuple[str, str, str], str] = {}

    def add_repository(self, project: str, region: str, repo: str) -> dict:
        name = f"projects/{project}/locations/{region}/repositories/{repo}"
        self.repositories[name] = {
            "name": name,
            "format": "DOCKER",
            "dockerConfig": {"immutableTags": True},
        }
        return self.repositories[name]

    def push(self, reference: str) -> str:
        """Record an image pushed as `reference` (REGION-docker.pkg.dev/...:TAG); its digest."""
        found = IMAGE.fullmatch(reference)
        if not found:
            raise Refused(400, f"not an Artifact Registry image reference: {reference}")
        repo = "projects/{project}/locations/{region}/repositories/{repo}".format(
            **found.groupdict()
        )
        if repo not in self.repositories:
            raise Refused(404, f"Repository {repo} not found")
        key = (repo, found["image"], found["tag"])
        if key in self.images:
            raise Refused(400, f"tag {found['tag']} is immutable and exists already: {reference}")
        self.images[key] = "sha256:" + hashlib.sha256(reference.encode()).hexdigest()
        return self.images[key]

    @route("POST", r"/fake-only/push")
    def pushed(self, request: Request) -> dict:
        """The door of the recording docker stand-in (not an Artifact Registry method)."""
        return {"digest": self.push(request.json().get("reference", ""))}

    def repository(self, project: str, region: str, repo: str) -> str:
        name = f"projects/{project}/locations/{region}/repositories/{repo}"
        if name not in self.repositories:
            raise Refused(404, f"Requested entity was not found: {name}")
        return name

    @route("GET", REPO)
    def get_repository(self, request: Request, project: str, region: str, repo: str) -> dict:
        return self.repositories[self.repository(project, region, repo)]

    @route("GET", REPO + r"/packages/(?P<package>[^/]+)/tags/(?P<tag>[^/]+)")
    def get_tag(self, request: Request, package: str, tag: str, **where: str) -> dict:
        name = self.repository(**where)
        image = unquote(package)
        digest = self.images.get((name, image, tag))
        if digest is None:
            raise Refused(404, f"Requested entity was not found: tag {tag} of {image}")
        return {
            "name": f"{name}/packages/{package}/tags/{tag}",
            "version": f"{name}/packages/{package}/versions/{digest}",
        }

    @route("GET", REPO + r"/dockerImages/(?P<image>[^/]+)")
    def get_image(self, request: Request, project, region, repo, image) -> dict:
        name = self.repository(project, region, repo)
        package, _, digest = unquote(image).partition("@")
        tags = [t for (r, i, t), d in self.images.items() if (r, i, d) == (name, package, digest)]
        if not tags:
            raise Refused(404, f"Requested entity was not found: {package}@{digest}")
        host = f"{region}-docker.pkg.dev/{project}/{repo}/{package}"
        return {"name": f"{name}/dockerImages/{image}", "uri": f"{host}@{digest}", "tags": tags}
