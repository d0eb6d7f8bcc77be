# customer-stream: randomuser.me -> Pub/Sub -> Beam -> BigQuery.  `make help` lists every target.
SHELL := /bin/bash
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:

VENV   ?= .venv
PYTHON ?= python3
PY     := $(VENV)/bin/python
# make run knobs
N      ?= 500
SOURCE ?= fake
KEEP   ?= 0
INPUT  ?=
# make capacity: customers per second and bytes per message (payload and attributes)
RATE   ?= 100
MESSAGE_BYTES ?= 1000
# make replay: python -m replay's flags, e.g. ARGS='--stage validate --execute'
# make mutants: ARGS=--survivors re-runs only the last run's survivors
ARGS   ?=
# make forget: the customer id (login.uuid) to erase; ARGS=--execute erases
# make mutants: the modules to mutate (default: every module scripts/mutants.py lists)
MODULES ?=
CUSTOMER ?=
# cloud targets: PROJECT is required; the rest come from `terraform output` unless given.
# Images are tagged with the commit they were built from, never with a mutable tag: COMMIT is what
# make build builds (the checked-out commit), TAG the build the other targets use (default: the same).
PROJECT     ?=
REGION      ?= europe-west1
LOCAL_TAG   ?= dev
COMMIT      ?= $(shell git rev-parse HEAD 2>/dev/null)
TAG         ?= $(COMMIT)
# Machine type and autoscaling bound of make deploy: pipeline/options.py's MACHINE_TYPE and
# MAX_WORKERS, as the capacity model recommends (docs/cost.md); tests hold them equal.
MACHINE_TYPE ?= n1-standard-2
MAX_WORKERS ?= 2
KEY         ?=
# Terraform's state: this bucket (make infra-bootstrap creates it), or a local file with LOCAL_STATE=1.
STATE_BUCKET ?= $(PROJECT)-customer-stream-tfstate
LOCAL_STATE  ?= 0
# make stop-job / make destroy: the jobs they stop are named customers or customers-* (make deploy)
# (older make deploys: customers-<time>) and customer-stream (Terraform's deploy_job, var.name);
# FORCE=1 cancels instead of draining.
JOB_NAMES    := customers customer-stream
STOP_TIMEOUT ?= 1800
FORCE        ?= 0
DELETE_DATA  ?= 0
TF          := terraform -chdir=terraform
# make deploy: the job's one stable name (an in-place update replaces a job of the same name:
# scripts/deploy.sh), and STRATEGY=update (default: in place, if the update contracts allow it)
# or replace (drain the running job, then start the new one).
JOB         ?= customers
STRATEGY    ?= update
TF_VARS      = -var=project_id=$(PROJECT) -var=region=$(REGION)
# One Terraform output; a value is one word, so anything longer is terraform's "no outputs" warning.
one_word     = $(if $(word 2,$(1)),,$(1))
out          = $(or $(call one_word,$(shell $(TF) output -no-color -raw $(1) 2>/dev/null)),$(error no Terraform output "$(1)": run `make infra PROJECT=$(or $(PROJECT),<project id>)` first))
require      = $(if $($(1)),,$(error $(1) is not set: run `make $@ $(1)=<project id>`))
# A build is named by its full commit SHA; latest (or any mutable tag) would let the launcher and
# the workers of one job run different images.
commit_sha   = $(if $(shell printf '%s' '$($(1))' | grep -Ex '[0-9a-f]{40}'),,$(error $(1)=$(or $($(1)),<empty>) is not a commit SHA: images are tagged only with the full commit they were built from (git rev-parse HEAD), never latest))
BUCKET         ?= $(call out,bucket)
REPOSITORY     ?= $(call out,repository)
PIPELINE_IMAGE ?= $(call out,pipeline_image)
PRODUCER_IMAGE ?= $(call out,producer_image)
TOPIC          ?= $(call out,topic)
SUBSCRIPTION   ?= $(call out,subscription)
OUTPUT_TABLE   ?= $(call out,output_table)
DLQ_TABLE      ?= $(call out,dlq_table)
REPLAYS_TABLE  ?= $(call out,replays_table)
ERASURES_TABLE ?= $(call out,erasures_table)
DATAFLOW_SA    ?= $(call out,dataflow_service_account)
CLOUDBUILD_SA  ?= $(call out,cloudbuild_service_account)
# The one immutable reference of a job: the spec cloudbuild.yaml wrote for commit TAG (launcher
# customer-pipeline:TAG) and the same image as sdk_container_image.
TEMPLATE        = gs://$(BUCKET)/templates/customers-$(TAG).json
JOB_IMAGE       = $(PIPELINE_IMAGE):$(TAG)
# Absolute: `docker run -v key.json:...` would mount a named volume called key.json, not the file.
CREDENTIALS     = $(abspath $(or $(KEY),$(HOME)/.config/gcloud/application_default_credentials.json))
# The image's user (uid 10001) cannot read a 0600 key of yours: run as your uid unless you are root.
DOCKER_USER     = $(if $(filter 0,$(shell id -u)),,--user $(shell id -u):$(shell id -g))
BASE_ARG        = $(foreach arg,PYTHON_BASE BEAM_SDK_IMAGE LAUNCHER_IMAGE,$(if $($(arg)),--build-arg $(arg)=$($(arg))))

##@ Local

help: ## List every target with its description
	@awk 'BEGIN {FS = ":.*## "} /^##@/ {printf "\n%s\n", substr($$0, 5)} /^[a-zA-Z0-9_-]+:.*## / {printf "  make %-16s %s\n", $$1, $$2}' $(MAKEFILE_LIST)
	@echo
	@echo "  Variables: N=$(N) SOURCE=$(SOURCE) KEEP=$(KEEP) (make run), ARGS (make replay, make forget, make mutants), CUSTOMER (make forget), PROJECT, REGION, RATE=$(RATE) MESSAGE_BYTES=$(MESSAGE_BYTES) (make capacity), TAG=<commit> (cloud targets), STRATEGY=update|replace (make deploy), STATE_BUCKET, LOCAL_STATE=1 (make infra, make destroy), FORCE=1, STOP_TIMEOUT (make stop-job), DELETE_DATA=1 (make destroy)"

venv: $(VENV)/.installed ## Create or update .venv with what make run needs (requirements/run.txt, by uv)

$(VENV)/.installed: requirements/run.txt requirements/bootstrap.txt pyproject.toml
	@scripts/venv.sh "$(PYTHON)" "$(VENV)" run
	@touch $@

dev: $(VENV)/.dev-installed ## Add the test and lint tools to .venv (requirements/dev.txt); make test does it

# dev.txt holds every pin of run.txt, so it satisfies `venv` too.
$(VENV)/.dev-installed: requirements/dev.txt requirements/bootstrap.txt pyproject.toml
	@scripts/venv.sh "$(PYTHON)" "$(VENV)" dev
	@touch $@ $(VENV)/.installed

run: venv ## Run the whole flow locally on emulators (N=500 SOURCE=fake|randomuser|file INPUT=f.jsonl KEEP=1)
	@$(PY) -m localrun --count "$(N)" --source "$(SOURCE)" $(if $(INPUT),--input "$(INPUT)") $(if $(filter 1 yes true,$(KEEP)),--keep)

drain-local: venv ## Drain the pipeline of a kept stack (make run KEEP=1): it writes all it pulled, then exits
	@$(PY) -m localrun.deploy --drain-only

deploy-local: venv ## Drain the kept stack's pipeline, start this working tree's on the same subscription (TREE=path)
	@$(PY) -m localrun.deploy $(if $(TREE),--tree "$(TREE)")

tables-local: venv ## Give the kept stack's tables the columns of this tree's schema files, in place (TREE=path)
	@$(PY) -m localrun.deploy --tables $(if $(TREE),--tree "$(TREE)")

stop: venv ## Stop a local stack left up by make run KEEP=1
	@$(PY) -m localrun --stop

test: dev tools docker ## Run every test tier (unit, integration, e2e, container, static, cloud); CI runs exactly this
	@scripts/test.sh

test-unit: dev ## Unit tests only (no services)
	@$(PY) -m pytest -m unit

test-integration: dev tools ## Integration and end-to-end tests on the real emulators (the fault matrix: mitmproxy from make tools)
	@$(PY) -m pytest -m "integration or e2e"

test-container: dev docker ## Container tests: real docker build / docker run of both images
	@$(PY) -m pytest -m container

test-static: dev tools ## Static checks: ruff, yamllint, hadolint, terraform fmt, checkov, provider schemas
	@$(PY) -m pytest -m static

test-cloud: dev ## Cloud tier: the real gcloud runs the cloud targets against local fakes of Google's APIs
	@$(PY) -m pytest -m cloud

mutants: dev ## Mutation testing (mutmut) of the modules that decide data, unit tier only; not in CI (MODULES=pipeline/rows.py; ARGS=--survivors re-runs the last survivors)
	@$(PY) scripts/mutants.py $(ARGS) $(MODULES)

lint: dev ## ruff check and format check on all Python
	@$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

format: dev ## Apply ruff's fixes and formatting
	@$(VENV)/bin/ruff check --fix . && $(VENV)/bin/ruff format .

bench: bench-publish bench-pipeline ## Both benchmarks below (bench/README.md)

bench-publish: venv ## Producer vs bare Pub/Sub client, customers/s on the Pub/Sub emulator
	@$(PY) -m bench.publish_bench

bench-pipeline: venv ## Pipeline steps vs a seed-style chain, msg/s on the FnApiRunner
	@$(PY) -m bench.pipeline_bench

bench-parse-floor: venv ## Where parse + validate's CPU goes, stage by stage, against the seed chain
	@$(PY) -m bench.parse_floor

capacity: venv ## Dataflow workers and monthly cost at RATE customers/s, from bench-pipeline's CPU (RATE=100 REGION=<region> MESSAGE_BYTES=1000)
	@$(PY) -m capacity --rate "$(RATE)" --region "$(REGION)" --message-bytes "$(MESSAGE_BYTES)"

bench-pipeline-floor: venv ## Where the whole graph's CPU goes against the seed's whole pipeline, with Beam's floors
	@$(PY) -m bench.pipeline_floor

bench-run: venv ## make run's pace at N=3000 and N=20000 at once (growth ratio), latency at 50/s
	@$(PY) -m bench.run_growth --counts 3000 20000
	@$(PY) -m localrun --count 1000 --rate 50

generate: venv ## Regenerate metadata.json, pipeline/README.md's parameter table and replay/complete_erasures.sql
	@$(PY) -m pipeline.options > metadata.json
	@$(PY) -m pipeline.options --readme pipeline/README.md
	@$(PY) -m replay.erasure > replay/complete_erasures.sql

update-contract: venv ## Regenerate pipeline/update_contract.json; a change needs ARGS='--map OLD=NEW' or ARGS="--replace --why '...'"
	@$(PY) -m pipeline.update_contract --write $(ARGS)

lock: dev ## Re-resolve requirements/*.txt from requirements/*.in
	@scripts/lock.sh "$(VENV)"

clean: ## Remove the virtualenvs, caches and local run state
	rm -rf $(VENV) .tools .pytest_cache .ruff_cache .hypothesis .run build dist *.egg-info

##@ Operate

replay: venv ## Re-publish chosen dead letters; dry run unless --execute (ARGS='--stage validate'; PROJECT= for the cloud)
	@$(if $(PROJECT),$(PY) -m replay --topic=$(TOPIC) --dlq-table=$(DLQ_TABLE) \
	  --output-table=$(OUTPUT_TABLE) --replays-table=$(REPLAYS_TABLE) --project=$(PROJECT),$(PY) -m localrun.replay) $(ARGS)

forget: venv ## Erase a customer everywhere; dry run unless --execute (CUSTOMER=<id> ARGS=--execute; PROJECT= for the cloud)
	@$(if $(PROJECT),$(PY) -m replay forget --dlq-table=$(DLQ_TABLE) --output-table=$(OUTPUT_TABLE) \
	  --replays-table=$(REPLAYS_TABLE) --erasures-table=$(ERASURES_TABLE) --project=$(PROJECT),$(PY) -m localrun.forget) \
	  $(if $(CUSTOMER),--customer=$(CUSTOMER)) $(ARGS)

##@ Images and tools

images: ## Build both images locally (PIP_CA=ca.pem behind a TLS proxy; PYTHON_BASE, BEAM_SDK_IMAGE, LAUNCHER_IMAGE)
	@echo "==> building customer-pipeline:$(LOCAL_TAG) and customer-producer:$(LOCAL_TAG)"
	scripts/docker-build.sh --file Dockerfile.pipeline --tag customer-pipeline:$(LOCAL_TAG) $(BASE_ARG) .
	scripts/docker-build.sh --file Dockerfile.producer --tag customer-producer:$(LOCAL_TAG) $(BASE_ARG) .
	@docker image ls --format '{{.Repository}}:{{.Tag}}  {{.Size}}' | grep -E '^customer-(pipeline|producer):$(LOCAL_TAG) '

docker: ## Make Docker ready for the container tests: install/start it, build the offline base image (root)
	@scripts/docker-setup.sh

tools: ## Tools in .tools/: checkov and mitmproxy (own virtualenvs), the Google provider schemas (hash-pinned)
	@scripts/tools.sh "$(PYTHON)" .tools

##@ Cloud (PROJECT=<project id> required; REGION=europe-west1; make test-cloud runs them against local fakes)

infra-bootstrap: ## Create the versioned, uniform-access bucket of Terraform's state, once (make infra runs it too)
	$(call require,PROJECT)
	@scripts/infra-bootstrap.sh "$(PROJECT)" "$(REGION)" "$(STATE_BUCKET)"

infra: ## terraform init (state in STATE_BUCKET; LOCAL_STATE=1 keeps it local), plan and apply (asks; AUTO_APPROVE=1 does not)
	$(call require,PROJECT)
	@echo "==> Terraform: create or update every resource in project $(PROJECT), region $(REGION)"
	@scripts/terraform-init.sh "$(PROJECT)" "$(REGION)" "$(STATE_BUCKET)" "$(LOCAL_STATE)"
	$(TF) plan -input=false $(TF_VARS) -out=infra.tfplan
	@[ "$(AUTO_APPROVE)" = 1 ] || { read -r -p "Apply this plan to project $(PROJECT)? [y/N] " ok; [ "$$ok" = y ]; }
	$(TF) apply -input=false infra.tfplan
	@rm -f terraform/infra.tfplan

build: ## Cloud Build of the checked-out commit: tests, both images tagged <commit>, Flex Template spec
	$(call require,PROJECT)
	$(call commit_sha,COMMIT)
# (terraform/.terraform.lock.hcl is written by terraform init, make infra: it is in no image)
	@[ -z "$$(git status --porcelain -- . ':!terraform/.terraform.lock.hcl')" ] || { echo "error: uncommitted changes: the images would be tagged $(COMMIT) without being that commit; commit or stash them first" >&2; exit 2; }
	@echo "==> Cloud Build in $(PROJECT): test, build and push customer-pipeline and customer-producer"
	@echo "    to $(REGION)-docker.pkg.dev/$(PROJECT)/$(REPOSITORY) (tag $(COMMIT); tags are immutable),"
	@echo "    then write gs://$(BUCKET)/templates/customers-$(COMMIT).json"
	gcloud builds submit . --project=$(PROJECT) --config=cloudbuild.yaml \
	  --service-account=$(CLOUDBUILD_SA) \
	  --gcs-source-staging-dir=gs://$(BUCKET)/source \
	  --substitutions=_REGION=$(REGION),_REPOSITORY=$(REPOSITORY),_BUCKET=$(BUCKET),COMMIT_SHA=$(COMMIT)

template: ## Write only the Flex Template spec of a build already pushed (TAG=<commit>, default HEAD)
	$(call require,PROJECT)
	$(call commit_sha,TAG)
	@echo "==> Flex Template spec $(TEMPLATE) -> $(JOB_IMAGE)"
	scripts/flex-template.sh $(TEMPLATE) $(JOB_IMAGE) $(PROJECT)

deploy: ## Run build TAG as the one streaming job: start it, update it in place, or STRATEGY=replace (drain, then start); TAG=<older commit> rolls back
	$(call require,PROJECT)
	$(call commit_sha,TAG)
	@PROJECT=$(PROJECT) REGION=$(REGION) JOB=$(JOB) TAG=$(TAG) STRATEGY=$(STRATEGY) \
	  TEMPLATES=gs://$(BUCKET)/templates JOB_IMAGE=$(JOB_IMAGE) SERVICE_ACCOUNT=$(DATAFLOW_SA) \
	  BUCKET=$(BUCKET) SUBSCRIPTION=$(SUBSCRIPTION) OUTPUT_TABLE=$(OUTPUT_TABLE) DLQ_TABLE=$(DLQ_TABLE) \
	  MACHINE_TYPE=$(MACHINE_TYPE) MAX_WORKERS=$(MAX_WORKERS) STOP_TIMEOUT=$(STOP_TIMEOUT) \
	  scripts/deploy.sh

producer: ## Run the producer image against the project's topic (N=500 SOURCE=fake KEY=sa-key.json TAG=<commit>)
	$(call require,PROJECT)
	$(call commit_sha,TAG)
	@echo "==> customer-producer:$(TAG): $(N) $(SOURCE) customers -> $(TOPIC)"
	@echo "    credentials: $(if $(KEY),key file $(KEY),your gcloud application-default login)"
	@[ -r "$(CREDENTIALS)" ] || { echo "error: no credentials at $(CREDENTIALS): pass KEY=key.json or run gcloud auth application-default login" >&2; exit 2; }
	docker run --rm $(DOCKER_USER) -v "$(CREDENTIALS):/var/secrets/google.json:ro" \
	  -e GOOGLE_APPLICATION_CREDENTIALS=/var/secrets/google.json -e GOOGLE_CLOUD_PROJECT=$(PROJECT) \
	  -e PRODUCER_TOPIC=$(TOPIC) -e PRODUCER_SOURCE=$(SOURCE) -e PRODUCER_COUNT=$(N) \
	  $(PRODUCER_IMAGE):$(TAG)

stop-job: ## Drain the project's streaming job(s) and wait until drained (FORCE=1 cancels, losing in-flight data; STOP_TIMEOUT=1800)
	$(call require,PROJECT)
	@echo "==> stopping the active customers job(s) of $(PROJECT)/$(REGION): $(if $(filter 1,$(FORCE)),cancel (FORCE=1),drain); wait up to $(STOP_TIMEOUT) s"
	@STOP_TIMEOUT=$(STOP_TIMEOUT) FORCE=$(FORCE) scripts/stop-job.sh "$(PROJECT)" "$(REGION)" $(JOB_NAMES)

destroy: stop-job ## make stop-job, then delete what make infra created but the data (DELETE_DATA=1: that too, after a typed confirmation)
	@DELETE_DATA=$(DELETE_DATA) AUTO_APPROVE=$(AUTO_APPROVE) scripts/destroy.sh "$(PROJECT)" "$(REGION)" "$(STATE_BUCKET)" "$(LOCAL_STATE)"

.PHONY: help venv dev run drain-local deploy-local tables-local stop replay forget docker test test-unit test-integration test-container test-static mutants lint format bench \
        bench-publish bench-pipeline bench-parse-floor bench-pipeline-floor bench-run capacity generate update-contract lock clean \
        test-cloud images tools infra-bootstrap infra build template deploy producer stop-job destroy
