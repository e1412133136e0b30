"""The playground service core (backtestester/service/): pure, and its one error form crosses processes."""
from __future__ import annotations

import pickle
import subprocess
import sys

from backtestester.service.errors import ServiceError, Status


def test_service_error_pickles_with_its_status_and_message():
    err = pickle.loads(pickle.dumps(ServiceError(Status.NOT_FOUND, "order 7 not found")))
    assert type(err) is ServiceError and err.status is Status.NOT_FOUND and str(err) == err.message == "order 7 not found"


def test_the_service_core_imports_no_ray_grpc_or_protobuf():
    code = ("import sys, backtestester.service.session, backtestester.service.journal, backtestester.service.store, "
            "backtestester.service.indicators; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('ray', 'grpc', 'actors') "
            "or m.startswith(('google.protobuf', 'backtestester.rpc'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
