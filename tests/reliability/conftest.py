"""Fixtures of the reliability suite; the machinery is in harness.py."""
import os
import sys

sys.path[:0] = [os.path.dirname(os.path.abspath(__file__)),
                os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "api")]

import pytest  # noqa: E402

import harness  # noqa: E402


@pytest.fixture
def workdir():
    """A temporary directory of the test's own (kept with KEEP_TMP=1)."""
    d = harness.workdir()
    yield d
    if os.environ.get("KEEP_TMP") != "1":
        harness.rmtree(d)


@pytest.fixture
def cluster(workdir):
    """cluster(durable=True) -> a migrated PostgreSQL cluster of the test's
    own, destroyed at the end."""
    made = []

    def make(durable=True, migrate=True):
        c = harness.Cluster(workdir, durable)
        made.append(c)
        return c.create(migrate)

    yield make
    for c in made:
        c.destroy()


class Shared:
    """The shared server of scripts/test, used only as a client would."""

    def __init__(self):
        self.base_url = os.environ["CARTELLA_URL"].rstrip("/")
        self._sessions = {}

    def user(self, tenant=harness.api.CORSICO, role="social_worker"):
        return harness.make_user_on(None, tenant, role)

    def session(self, tenant=harness.api.CORSICO, role="social_worker"):
        """A logged-in session of a fresh user, one per (tenant, role)."""
        if (tenant, role) not in self._sessions:
            u, p = self.user(tenant, role)
            self._sessions[(tenant, role)] = harness.login_on(self.base_url, u, p, tenant)
        return self._sessions[(tenant, role)]

    @property
    def worker(self):
        return self.session()

    @property
    def extra_user(self):
        return self.user()


@pytest.fixture(scope="module")
def shared():
    return Shared()
