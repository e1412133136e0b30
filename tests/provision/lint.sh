#!/usr/bin/env bash
# Lint of the provisioning: --syntax-check of every playbook, then ansible-lint with the
# production profile, offline (Galaxy is not reachable; the ansible package bundles the
# collections used). Needs ansible-playbook and ansible-lint on PATH (make test-provision).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
for playbook in playbooks/site.yml tests/provision/git_server.yml tests/provision/verify.yml; do
    ansible-playbook -i inventory.ini --syntax-check "$playbook"
done
ansible-lint --offline --profile production playbooks/ group_vars/ inventory.ini \
    tests/provision/git_server.yml tests/provision/verify.yml tests/provision/e2e_group_vars/
