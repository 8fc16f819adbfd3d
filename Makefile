# transferline: the commands a newcomer needs. `make run` and `make test` set up everything they use.
PY := .venv/bin/python
STAMP := .venv/.installed

.PHONY: install chromium run test test-unit lint typecheck-tree format infra-up infra-down infra-status \
	validate-deploy stack-local stack-local-down bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	python3 -m venv .venv
	.venv/bin/pip install --quiet --upgrade pip
	.venv/bin/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The whole product on the bundled, generated sample, embedded and offline: collect, download, label (the
# bundled export), convert, records, fine-tune, evaluate, export; prints mAP@0.5 (deploy/local/demo.py).
run: install
	$(PY) deploy/local/demo.py

# The browser tests drive Debian's chromium through Playwright (Playwright's own browser download cannot work here).
chromium:
	command -v chromium >/dev/null || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; }

# Every unit, integration, browser and end-to-end test, against the real Kafka and MinIO that infra-up starts.
test: install chromium infra-up
	.venv/bin/pytest tests

test-unit: install
	.venv/bin/pytest tests/unit

lint: install typecheck-tree
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/lint-imports --no-logo
	.venv/bin/mypy

# mypy cannot see the editable install's import hook, and the folders are not named as the packages are, so it
# checks a tree of links under the installed names: transferline -> shared/transferline and
# transferline_<name> -> services/<name> for every service folder ([tool.mypy] in pyproject.toml points there).
TYPECHECK := var/typecheck
typecheck-tree:
	rm -rf $(TYPECHECK)
	mkdir -p $(TYPECHECK)
	ln -s ../../shared/transferline $(TYPECHECK)/transferline
	for dir in services/*/; do \
	  name=$$(basename "$$dir"); \
	  if [ -f "$$dir/__init__.py" ]; then ln -s "../../services/$$name" "$(TYPECHECK)/transferline_$$name"; fi; \
	done

format: install
	.venv/bin/ruff check --fix .
	.venv/bin/ruff format .

infra-up:
	bash deploy/local/infra.sh up

infra-down:
	bash deploy/local/infra.sh down

infra-status:
	bash deploy/local/infra.sh status

# The deployment files, checked offline: `docker compose config` with the compose CLI and every kustomize overlay
# against the Kubernetes schemas (both tools built once from their Go modules into the cache, like MinIO).
validate-deploy: install
	.venv/bin/pytest tests/deploy

# Every service as its own OS process (2 downloaders, the gateway under gunicorn) against infra-up's Kafka and MinIO.
stack-local: install infra-up
	bash deploy/local/stack.sh up

stack-local-down:
	bash deploy/local/stack.sh down

bench: install infra-up
	$(PY) -m bench.handoff
	$(PY) -m bench.converter
	$(PY) -m bench.downloader
	$(PY) -m bench.recorder
	$(PY) -m bench.trainer

clean: infra-down
	rm -rf var .venv
