"""A Dataflow v1b3 fake: Flex Template launches checked as the service checks them, and jobs.

- `flexTemplates:launch` decodes the body as `LaunchFlexTemplateRequest`, reads the spec it
  names from the Storage fake (the file `gcloud dataflow flex-template build` wrote), and checks
  the parameters against the spec's metadata as Dataflow does at launch: every required one
  present, none undeclared, each value matching its regexes under RE2 (Dataflow evaluates
  them with RE2/J: https://cloud.google.com/dataflow/docs/guides/templates/using-flex-templates,
  "Metadata"). With `launchParameter.update` it replaces the running job of that name,
  recording `transformNameMappings`, and refuses when none runs
  (https://cloud.google.com/dataflow/docs/guides/updating-a-pipeline#Launching;
  LaunchFlexTemplateParameter.update: "When set, the job name should be the same as the running
  job", https://cloud.google.com/dataflow/docs/reference/rest/v1b3/projects.locations.flexTemplates/launch);
  without it, a second active job of the same name is refused (a job name is unique among
  active jobs). The launch's `environment.additionalUserLabels` are the new job's `labels`.
- `jobs` list (`filter=ACTIVE|TERMINATED|ALL`, `name=`), get and update. An update with
  `requestedState` JOB_STATE_DRAINED / JOB_STATE_CANCELLED moves a running job through
  JOB_STATE_DRAINING / JOB_STATE_CANCELLING to the final state, one step per later read of the
  job (get or list), as a streaming job takes a while to drain.
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

import re2

from tests.gcp_fakes.schema import decode
from tests.gcp_fakes.server import Refused, Request, Service, route
from tests.gcp_fakes.storage import Storage

# https://cloud.google.com/dataflow/docs/reference/rest/v1b3/projects.jobs#Job, field `name`
JOB_NAME = re.compile(r"[a-z]([-a-z0-9]{0,1022}[a-z0-9])?")
ACTIVE = {
    "JOB_STATE_PENDING",
    "JOB_STATE_QUEUED",
    "JOB_STATE_RUNNING",
    "JOB_STATE_DRAINING",
    "JOB_STATE_CANCELLING",
    "JOB_STATE_RESOURCE_CLEANING_UP",
}
# requestedState -> the states a running job goes through to reach it.
STOPPING = {
    "JOB_STATE_DRAINED": ["JOB_STATE_DRAINING", "JOB_STATE_DRAINED"],
    "JOB_STATE_CANCELLED": ["JOB_STATE_CANCELLING", "JOB_STATE_CANCELLED"],
}
# Pipeline options a Flex Template launch takes as parameters without the metadata declaring
# them: https://cloud.google.com/dataflow/docs/guides/templates/configuring-flex-templates
# ("Pipeline options"; sdk_container_image: "Set the container image of the workers").
FLEX_PIPELINE_OPTIONS = {"sdk_container_image", "experiments", "save_main_session"}
# A container image reference, as Docker's grammar defines it
# (https://github.com/distribution/reference/blob/main/regexp.go): [domain/]path[:tag][@digest].
IMAGE_REFERENCE = re.compile(
    r"(?:(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*"
    r"(?::[0-9]+)?/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
    r"(?::[\w][\w.-]{0,127})?(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?"
)
LOCATION = r"/v1b3/projects/(?P<project>[^/]+)/locations/(?P<region>[^/]+)"


def timestamp() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


@dataclass
class Job:
    """One job, as the Job resource's fields plus the states it has still to go through."""

    resource: dict
    pending: list[str] = field(default_factory=list)

    @property
    def state(self) -> str:
        return self.resource["currentState"]

    def step(self) -> None:
        """One read's worth of progress: the next pending state, if any."""
        if self.pending:
            self.resource["currentState"] = self.pending.pop(0)
            self.resource["currentStateTime"] = timestamp()


def parameter_errors(parameters: dict[str, str], metadata: dict) -> list[str]:
    """What Dataflow refuses in a launch's parameters, against the spec's metadata."""
    declared = {p["name"]: p for p in metadata.get("parameters", [])}
    errors = [
        f"missing required parameter {name!r}"
        for name, spec in declared.items()
        if not spec.get("isOptional") and name not in parameters
    ]
    for name, value in parameters.items():
        if name not in declared:
            if name not in FLEX_PIPELINE_OPTIONS:
                errors.append(f"parameter {name!r} is not declared in the template's metadata")
            continue
        for regex in declared[name].get("regexes", []):
            try:
                matched = re2.fullmatch(regex, value)
            except re2.error as error:
                errors.append(f"regex of {name!r} does not compile under RE2: {error}")
                continue
            if not matched:
                errors.append(f"parameter {name!r}={value!r} does not match {regex}")
    return errors


class Dataflow(Service):
    """Jobs by id (`jobs`), launches checked against the specs in `storage`."""

    def __init__(self, storage: Storage) -> None:
        super().__init__(api="dataflow")
        self.storage = storage
        self.jobs: dict[str, Job] = {}
        self.ids = itertools.count(1)

    def add_job(self, project: str, region: str, name: str, state="JOB_STATE_RUNNING", **fields):
        """A job as if launched earlier (a test's starting point); returns its resource."""
        stamp = datetime.now(UTC).strftime("%Y-%m-%d_%H_%M_%S")
        job_id = f"{stamp}-{next(self.ids):020d}"
        resource = {
            "id": job_id,
            "projectId": project,
            "location": region,
            "name": name,
            "type": "JOB_TYPE_STREAMING",
            "currentState": state,
            "currentStateTime": timestamp(),
            "createTime": timestamp(),
            **fields,
        }
        self.jobs[job_id] = Job(resource)
        return resource

    def active(self, project: str, region: str, name: str) -> list[Job]:
        return [
            job
            for job in self.jobs.values()
            if job.resource["projectId"] == project
            and job.resource["location"] == region
            and job.resource["name"] == name
            and job.state in ACTIVE
        ]

    def spec(self, gcs_path: str) -> dict:
        found = re.fullmatch(r"gs://([^/]+)/(.+)", gcs_path or "")
        if not found:
            raise Refused(400, f"containerSpecGcsPath {gcs_path!r} is not a gs:// path")
        try:
            data = self.storage.read(found.group(1), found.group(2))
        except Refused as missing:
            raise Refused(400, f"Unable to read the template file {gcs_path}") from missing
        try:
            spec = json.loads(data)
        except ValueError as error:
            raise Refused(400, f"The template file {gcs_path} is not JSON: {error}") from error
        decode("dataflow", "v1b3", "ContainerSpec", spec)  # what a Flex Template file holds
        return spec

    @route("POST", LOCATION + r"/flexTemplates:launch")
    def launch(self, request: Request, project: str, region: str) -> dict:
        body = request.json()
        decode("dataflow", "v1b3", "LaunchFlexTemplateRequest", body)
        launch = body.get("launchParameter", {})
        name = launch.get("jobName", "")
        if not JOB_NAME.fullmatch(name):
            raise Refused(400, f"Invalid job name {name!r}: must match {JOB_NAME.pattern}")
        spec = self.spec(launch.get("containerSpecGcsPath", ""))
        errors = parameter_errors(launch.get("parameters", {}), spec.get("metadata", {}))
        images = [spec.get("image", ""), launch.get("parameters", {}).get("sdk_container_image")]
        errors += [
            f"{image!r} is not a container image reference"
            for image in images
            if image is not None and not IMAGE_REFERENCE.fullmatch(image)
        ]
        if errors:
            raise Refused(400, "The template parameters are invalid: " + "; ".join(errors))
        running = self.active(project, region, name)
        environment = launch.get("environment", {})
        extra = {
            "environment": environment,
            "parameters": launch.get("parameters", {}),
            "containerSpecGcsPath": launch["containerSpecGcsPath"],
            # FlexTemplateRuntimeEnvironment.additionalUserLabels become the Job's `labels`.
            "labels": environment.get("additionalUserLabels", {}),
        }
        if launch.get("update"):
            if not running:
                raise Refused(404, f"Could not find a running job named {name!r} to update")
            extra["replaceJobId"] = running[0].resource["id"]
            extra["transformNameMapping"] = launch.get("transformNameMappings", {})
        elif running:
            raise Refused(409, f"There is already an active job named {name}")
        if body.get("validateOnly"):
            return {}
        job = self.add_job(project, region, name, "JOB_STATE_PENDING", **extra)
        self.jobs[job["id"]].pending = ["JOB_STATE_RUNNING"]
        for old in running:
            old.resource["replacedByJobId"] = job["id"]
            old.pending = ["JOB_STATE_UPDATED"]
        return {"job": dict(job)}

    def job(self, project: str, region: str, job_id: str) -> Job:
        job = self.jobs.get(job_id)
        where = job and (job.resource["projectId"], job.resource["location"])
        if where != (project, region):
            raise Refused(404, f"(job {job_id}) not found in project {project} region {region}")
        return job

    @route("GET", LOCATION + r"/jobs/(?P<job_id>[^/]+)")
    def get(self, request: Request, project: str, region: str, job_id: str) -> dict:
        job = self.job(project, region, job_id)
        job.step()
        return dict(job.resource)

    @route("GET", LOCATION + r"/jobs")
    def list_jobs(self, request: Request, project: str, region: str) -> dict:
        wanted = request.query.get("filter", "ALL")
        found = []
        for job in self.jobs.values():
            if (job.resource["projectId"], job.resource["location"]) != (project, region):
                continue
            job.step()
            active = job.state in ACTIVE
            if (wanted == "ACTIVE" and not active) or (wanted == "TERMINATED" and active):
                continue
            if request.query.get("name") not in (None, job.resource["name"]):
                continue
            found.append(dict(job.resource))
        found.sort(key=lambda resource: resource["createTime"], reverse=True)
        size = int(request.query.get("pageSize") or 0)
        return {"jobs": found[:size] if size else found}

    @route("PUT", LOCATION + r"/jobs/(?P<job_id>[^/]+)")
    def update(self, request: Request, project: str, region: str, job_id: str) -> dict:
        body = request.json()
        decode("dataflow", "v1b3", "Job", body)
        job = self.job(project, region, job_id)
        requested = body.get("requestedState")
        if requested not in STOPPING:
            raise Refused(400, f"requestedState {requested!r}: this fake drains or cancels only")
        if requested == "JOB_STATE_DRAINED" and job.state not in {"JOB_STATE_RUNNING"}:
            raise Refused(412, f"Job {job_id} in state {job.state} cannot be drained")
        if job.state not in ACTIVE:
            raise Refused(412, f"Job {job_id} has terminated ({job.state})")
        job.resource["requestedState"] = requested
        job.pending = list(STOPPING[requested])
        return dict(job.resource)
