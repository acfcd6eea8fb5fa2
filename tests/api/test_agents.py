"""Every agent registry operation of colibrid over real HTTP (register,
get, list with filters and cursor pagination, update with version /
If-Match, heartbeat and liveness, remove), with good and bad input and the
database unchanged after every refused request; and skill-aware routing:
an agent without a skill a task requires never sees it (task.ready,
task.list ?ready=true&agent=) nor claims it (task.claim, task.claim_next),
while an agent with every skill does."""

import datetime
import socket
import time

import colibri_test
from colibri_test import Daemon, DaemonTestCase, SharedDaemonTestCase

TIME_RE = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$"
SLUG_PATTERN = "^[A-Za-z0-9][A-Za-z0-9._-]*$"

AGENT_KEYS = {"id", "kind", "host", "labels", "skills", "state",
              "state_since", "last_seen", "online", "timeout_seconds",
              "current_task", "tasks", "version", "created_at",
              "updated_at", "process", "jail"}

# Ids that are not slugs: each must be refused wherever an agent id goes.
BAD_IDS = ("-lead", ".dot", "_under", "a b", "a/b", "a:b", "a@b", "tab\t",
           "\u00e4gent", "a" * 65)
# Names that are not skill names.
BAD_SKILLS = ("C-lang", "-lead", "trail-", "dou--ble", "under_score",
              "dot.ted", "sp ace", "\u00e9t\u00e9", "", "a" * 65)


def parse_time(text):
    return datetime.datetime.strptime(text.replace("Z", "+0000"),
                                      "%Y-%m-%dT%H:%M:%S.%f%z")


def ids(items):
    return [x["id"] for x in items]


def quote(text):
    """Percent-encodes text for a path segment or query value."""
    from urllib.parse import quote as q
    return q(text, safe="")


class AgentTestBase(SharedDaemonTestCase):
    """A shared daemon whose reaper practically never runs."""

    daemon_args = ["--reap-interval", "3600"]

    def apath(self, agent, suffix=""):
        aid = agent if isinstance(agent, str) else agent["id"]
        return "/api/v1/agents/%s%s" % (quote(aid), suffix)

    def tpath(self, task, suffix=""):
        tid = task if isinstance(task, int) else task["id"]
        return "/api/v1/tasks/%d%s" % (tid, suffix)

    def register(self, d=None, **fields):
        d = d or self.d
        r = d.post("/api/v1/agents", fields)
        return self.assertStatus(r, 201, "register %r" % (fields,))

    def get_agent(self, agent, d=None):
        d = d or self.d
        return self.assertStatus(d.get(self.apath(agent)), 200)

    def unchanged(self, before, what, d=None):
        d = d or self.d
        self.assertEqual(d.snapshot(), before,
                         "the database changed after %s" % what)

    def refused(self, resp, status, code, what, before, d=None,
                argument=None):
        """Asserts a problem and that the database did not change."""
        p = self.assertProblem(resp, status, code, what)
        if argument is not None:
            self.assertEqual(p.get("argument"), argument, what)
        self.unchanged(before, what, d)
        return p


class RegisterGetTest(AgentTestBase):

    def test_register_with_every_field(self):
        fields = {"id": "worker-1", "kind": "pi", "host": "build-01",
                  "labels": ["gpu", "eu"], "skills": ["c-lang", "sql"],
                  "timeout_seconds": 120}
        r = self.d.post("/api/v1/agents", fields)
        a = self.assertStatus(r, 201)
        self.assertEqual(r.headers.get("Location"), "/api/v1/agents/worker-1")
        self.assertEqual(r.headers.get("ETag"), '"1"')
        self.assertTrue(r.headers["Content-Type"].startswith(
            "application/json"))
        self.assertEqual(set(a), AGENT_KEYS)
        for k, v in fields.items():
            self.assertEqual(a[k], v, k)
        self.assertEqual(a["state"], "idle")
        self.assertIs(a["online"], True)
        self.assertIsNone(a["current_task"])
        self.assertEqual(a["tasks"], [])
        self.assertEqual(a["version"], 1)
        for k in ("state_since", "last_seen", "created_at", "updated_at"):
            self.assertRegex(a[k], TIME_RE, k)
            self.assertEqual(a[k], a["created_at"], k)
        g = self.d.get(r.headers["Location"])
        self.assertEqual(self.assertStatus(g, 200), a)
        self.assertEqual(g.headers.get("ETag"), '"1"')

    def test_register_defaults(self):
        for r in (self.d.post("/api/v1/agents", {}),
                  self.d.request("POST", "/api/v1/agents")):
            a = self.assertStatus(r, 201)
            self.assertEqual(a["kind"], "generic")
            self.assertRegex(a["id"], r"^generic-[0-9a-f]{8}$")
            self.assertEqual(r.headers.get("Location"),
                             "/api/v1/agents/" + a["id"])
            self.assertEqual(a["host"], socket.gethostname())
            self.assertEqual(a["labels"], [])
            self.assertEqual(a["skills"], [])
            self.assertEqual(a["timeout_seconds"], 60)
            self.assertEqual(a["state"], "idle")
            self.assertIs(a["online"], True)
            self.assertEqual(self.get_agent(a), a)

    def test_generated_id_comes_from_the_kind(self):
        a = self.register(kind="smoke")
        b = self.register(kind="smoke")
        self.assertRegex(a["id"], r"^smoke-[0-9a-f]{8}$")
        self.assertRegex(b["id"], r"^smoke-[0-9a-f]{8}$")
        self.assertNotEqual(a["id"], b["id"])
        long_kind = "k" * 32
        c = self.register(kind=long_kind)
        self.assertRegex(c["id"], "^%s-[0-9a-f]{8}$" % long_kind)

    def test_id_and_name_boundaries(self):
        a = self.register(id="A.b_c-9")
        self.assertEqual(self.get_agent("A.b_c-9"), a)
        a = self.register(id="x" * 64, skills=["s" * 64, "a1-b2-c3"])
        self.assertEqual(a["skills"], ["s" * 64, "a1-b2-c3"])
        a = self.register(skills=["k%d" % i for i in range(256)],
                          labels=["l%d" % i for i in range(32)],
                          timeout_seconds=86400)
        self.assertEqual(len(a["skills"]), 256)
        self.assertEqual(self.register(timeout_seconds=1)["timeout_seconds"],
                         1)

    def test_register_existing_id_is_409(self):
        a = self.register(id="twice", kind="pi", skills=["c-lang"])
        before = self.d.snapshot()
        r = self.d.post("/api/v1/agents", {"id": "twice", "kind": "smoke"})
        p = self.refused(r, 409, "agent_exists", "registering twice",
                         before)
        self.assertIn("twice", p["detail"])
        self.assertEqual(self.get_agent("twice"), a)

    def test_bad_register_input_changes_nothing(self):
        cases = [({"id": bad}, "id") for bad in BAD_IDS]
        cases += [({"id": ""}, "id"), ({"id": 7}, "id"),
                  ({"id": None}, "id"), ({"id": ["a"]}, "id")]
        cases += [({"skills": [bad]}, "skills") for bad in BAD_SKILLS]
        cases += [({"skills": ["ok", bad]}, "skills") for bad in BAD_SKILLS]
        cases += [
            ({"kind": "-pi"}, "kind"), ({"kind": "p i"}, "kind"),
            ({"kind": ""}, "kind"), ({"kind": "k" * 33}, "kind"),
            ({"kind": 3}, "kind"),
            ({"host": ""}, "host"), ({"host": "h" * 256}, "host"),
            ({"host": 1}, "host"),
            ({"labels": "gpu"}, "labels"), ({"labels": [1]}, "labels"),
            ({"labels": [""]}, "labels"), ({"labels": ["l" * 65]}, "labels"),
            ({"labels": ["x"] * 33}, "labels"),
            ({"skills": "c-lang"}, "skills"), ({"skills": [1]}, "skills"),
            ({"skills": [None]}, "skills"), ({"skills": {"a": 1}}, "skills"),
            ({"skills": ["s"] * 257}, "skills"),
            ({"timeout_seconds": 0}, "timeout_seconds"),
            ({"timeout_seconds": -5}, "timeout_seconds"),
            ({"timeout_seconds": 86401}, "timeout_seconds"),
            ({"timeout_seconds": "60"}, "timeout_seconds"),
            ({"timeout_seconds": 1.5}, "timeout_seconds"),
            ({"timeout_seconds": True}, "timeout_seconds"),
        ]
        before = self.d.snapshot()
        for body, arg in cases:
            with self.subTest(body=body):
                r = self.d.post("/api/v1/agents", body)
                self.refused(r, 400, "invalid_argument", "register %r"
                             % (body,), before, argument=arg)
        for body in ({"name": "x"}, {"state": "working"}, {"online": True},
                     {"version": 1}, {"last_seen": "now"},
                     {"id": "ok", "tasks": []}):
            with self.subTest(body=body):
                r = self.d.post("/api/v1/agents", body)
                self.refused(r, 400, "unknown_argument", "register %r"
                             % (body,), before)
        r = self.d.post("/api/v1/agents", raw_body="{\"id\": ")
        self.refused(r, 400, "invalid_json", "a broken body", before)
        r = self.d.post("/api/v1/agents", ["id", "x"])
        self.refused(r, 400, "invalid_body", "an array body", before)
        r = self.d.post("/api/v1/agents", raw_body='{"id": "x"}',
                        content_type="text/plain")
        self.refused(r, 415, "unsupported_media_type", "a text body", before)
        r = self.d.post("/api/v1/agents", {"id": "x"}, token="0" * 64)
        self.refused(r, 401, "unauthorized", "a wrong token", before)

    def test_get_missing_and_bad_ids(self):
        before = self.d.snapshot()
        p = self.refused(self.d.get("/api/v1/agents/nobody"), 404,
                         "agent_not_found", "get of a missing agent",
                         before)
        self.assertIn("nobody", p["detail"])
        for bad in BAD_IDS:
            with self.subTest(id=bad):
                r = self.d.get("/api/v1/agents/" + quote(bad))
                if "/" in bad:
                    self.assertProblem(r, 404, "not_found")
                else:
                    self.refused(r, 400, "invalid_argument", "get %r" % bad,
                                 before, argument="id")
        r = self.d.get("/api/v1/agents/ok?extra=1")
        self.refused(r, 400, "unknown_argument", "get with a query", before)
        r = self.d.get("/api/v1/agents/ok", headers={"If-Match": '"1"'})
        self.refused(r, 400, "invalid_header", "get with If-Match", before)


class UpdateTest(AgentTestBase):

    def test_update_with_version_in_body(self):
        a = self.register(id="upd-body", kind="pi", host="h1",
                          labels=["x"], skills=["c-lang"])
        time.sleep(0.05)
        changes = {"kind": "smoke", "host": "h2", "labels": ["y", "z"],
                   "skills": ["sql", "web-testing"], "timeout_seconds": 30}
        r = self.d.patch(self.apath(a), dict(changes, version=1))
        u = self.assertStatus(r, 200)
        self.assertEqual(r.headers.get("ETag"), '"2"')
        for k, v in changes.items():
            self.assertEqual(u[k], v, k)
        self.assertEqual(u["version"], 2)
        self.assertEqual(u["id"], a["id"])
        self.assertEqual(u["created_at"], a["created_at"])
        self.assertEqual(u["state"], a["state"])
        self.assertEqual(u["state_since"], a["state_since"])
        self.assertGreater(parse_time(u["updated_at"]),
                           parse_time(a["updated_at"]))
        self.assertGreater(parse_time(u["last_seen"]),
                           parse_time(a["last_seen"]))
        self.assertEqual(self.get_agent(a), u)
        # Only the fields given change; an empty list clears.
        u2 = self.assertStatus(self.d.patch(self.apath(a), {
            "version": 2, "skills": []}), 200)
        self.assertEqual(u2["skills"], [])
        self.assertEqual(u2["labels"], ["y", "z"])
        self.assertEqual(u2["version"], 3)

    def test_update_with_if_match_and_unconditional(self):
        a = self.register(id="upd-if-match")
        g = self.d.get(self.apath(a))
        etag = g.headers.get("ETag")
        self.assertEqual(etag, '"1"')
        r = self.d.patch(self.apath(a), {"skills": ["go"]},
                         headers={"If-Match": etag})
        u = self.assertStatus(r, 200)
        self.assertEqual(u["version"], 2)
        self.assertEqual(r.headers.get("ETag"), '"2"')
        r = self.d.patch(self.apath(a), {"host": "weak"},
                         headers={"If-Match": 'W/"2"'})
        self.assertEqual(self.assertStatus(r, 200)["version"], 3)
        # Without version nor If-Match, the update is unconditional.
        r = self.d.patch(self.apath(a), {"labels": ["free"]})
        u = self.assertStatus(r, 200)
        self.assertEqual(u["version"], 4)
        self.assertEqual(u["labels"], ["free"])
        self.assertEqual(u["skills"], ["go"])
        self.assertEqual(u["host"], "weak")

    def test_stale_versions_are_409_and_412(self):
        a = self.register(id="upd-stale")
        self.assertStatus(self.d.patch(self.apath(a), {"host": "h2"}), 200)
        before = self.d.snapshot()
        r = self.d.patch(self.apath(a), {"version": 1, "host": "h3"})
        p = self.refused(r, 409, "version_conflict", "a stale body version",
                         before)
        self.assertEqual(p["current_version"], 2)
        r = self.d.patch(self.apath(a), {"host": "h3"},
                         headers={"If-Match": '"1"'})
        p = self.refused(r, 412, "version_conflict", "a stale If-Match",
                         before)
        self.assertEqual(p["current_version"], 2)
        r = self.d.patch(self.apath(a), {"version": 99})
        self.refused(r, 409, "version_conflict", "a future version", before)
        r = self.d.patch(self.apath(a), {"version": 2},
                         headers={"If-Match": '"2"'})
        self.refused(r, 400, "duplicate_argument", "version given twice",
                     before)
        self.assertEqual(self.get_agent(a)["host"], "h2")

    def test_bad_updates_change_nothing(self):
        a = self.register(id="upd-bad", skills=["c-lang"])
        before = self.d.snapshot()
        cases = [({"skills": [bad]}, "skills") for bad in BAD_SKILLS]
        cases += [
            ({"kind": "-x"}, "kind"), ({"host": ""}, "host"),
            ({"labels": [3]}, "labels"), ({"skills": "c-lang"}, "skills"),
            ({"timeout_seconds": 0}, "timeout_seconds"),
            ({"timeout_seconds": "1"}, "timeout_seconds"),
            ({"version": 0}, "version"), ({"version": "1"}, "version"),
            ({"kind": None}, "kind"), ({"skills": None}, "skills"),
        ]
        for body, arg in cases:
            with self.subTest(body=body):
                r = self.d.patch(self.apath(a), body)
                self.refused(r, 400, "invalid_argument", "update %r"
                             % (body,), before, argument=arg)
        for body in ({"state": "working"}, {"online": False},
                     {"last_seen": "2020-01-01T00:00:00.000Z"},
                     {"current_task": 1}, {"bogus": 1}):
            with self.subTest(body=body):
                r = self.d.patch(self.apath(a), body)
                self.refused(r, 400, "unknown_argument", "update %r"
                             % (body,), before)
        r = self.d.patch(self.apath(a), {"id": "renamed"})
        self.refused(r, 400, "duplicate_argument", "an id in the body",
                     before)
        r = self.d.patch(self.apath(a), {"host": "x"},
                         headers={"If-Match": "nonsense"})
        self.refused(r, 400, "invalid_header", "a bad If-Match", before)
        r = self.d.patch("/api/v1/agents/missing", {"host": "x"})
        self.refused(r, 404, "agent_not_found", "update of a missing agent",
                     before)
        r = self.d.patch("/api/v1/agents/missing", {"version": 1})
        self.refused(r, 404, "agent_not_found", "versioned update of a "
                     "missing agent", before)
        for bad in BAD_IDS:
            if "/" in bad:
                continue
            with self.subTest(id=bad):
                r = self.d.patch("/api/v1/agents/" + quote(bad),
                                 {"host": "x"})
                self.refused(r, 400, "invalid_argument", "update %r" % bad,
                             before, argument="id")
        r = self.d.patch(self.apath(a), raw_body="host=x",
                         content_type="application/x-www-form-urlencoded")
        self.refused(r, 415, "unsupported_media_type", "a form body", before)


class HeartbeatLivenessTest(AgentTestBase):

    def test_heartbeat_moves_last_seen_only(self):
        a = self.register(id="hb-1", skills=["c-lang"])
        time.sleep(0.05)
        r = self.d.post(self.apath(a, "/heartbeat"), {})
        h = self.assertStatus(r, 200)
        self.assertGreater(parse_time(h["last_seen"]),
                           parse_time(a["last_seen"]))
        for k in AGENT_KEYS - {"last_seen"}:
            self.assertEqual(h[k], a[k], k)
        self.assertEqual(self.get_agent(a), h)
        # No body at all is fine too.
        time.sleep(0.05)
        h2 = self.assertStatus(self.d.request(
            "POST", self.apath(a, "/heartbeat")), 200)
        self.assertGreater(parse_time(h2["last_seen"]),
                           parse_time(h["last_seen"]))
        self.assertEqual(h2["version"], 1)

    def test_bad_heartbeats_change_nothing(self):
        self.register(id="hb-bad")
        before = self.d.snapshot()
        r = self.d.post("/api/v1/agents/hb-missing/heartbeat", {})
        self.refused(r, 404, "agent_not_found", "heartbeat of a missing "
                     "agent", before)
        r = self.d.post(self.apath("hb-bad", "/heartbeat"), {"busy": True})
        self.refused(r, 400, "unknown_argument", "a heartbeat with a body",
                     before)
        r = self.d.post(self.apath("hb-bad", "/heartbeat"), {"id": "x"})
        self.refused(r, 400, "duplicate_argument", "an id in the body",
                     before)
        r = self.d.post(self.apath("hb-bad", "/heartbeat"), raw_body="x",
                        content_type="text/plain")
        self.refused(r, 415, "unsupported_media_type", "a text body", before)
        r = self.d.post(self.apath("hb-bad", "/heartbeat"), {},
                        headers={"If-Match": '"1"'})
        self.refused(r, 400, "invalid_header", "If-Match on a heartbeat",
                     before)
        for bad in BAD_IDS:
            if "/" in bad:
                continue
            with self.subTest(id=bad):
                r = self.d.post("/api/v1/agents/%s/heartbeat" % quote(bad),
                                {})
                self.refused(r, 400, "invalid_argument", "heartbeat %r"
                             % bad, before, argument="id")

    def test_online_is_derived_from_last_seen_and_timeout(self):
        d = self.daemon(["--reap-interval", "3600"])
        short = self.register(d=d, id="short", timeout_seconds=1)
        long_ = self.register(d=d, id="long", timeout_seconds=3600)
        self.assertIs(short["online"], True)

        def listed(query):
            r = d.get("/api/v1/agents?" + query)
            return ids(self.assertStatus(r, 200, query)["items"])

        self.assertEqual(listed("online=true"), ["long", "short"])
        self.assertEqual(listed("online=false"), [])
        time.sleep(2.2)
        self.assertIs(self.get_agent("short", d)["online"], False)
        self.assertIs(self.get_agent("long", d)["online"], True)
        self.assertEqual(listed("online=true"), ["long"])
        self.assertEqual(listed("online=1"), ["long"])
        self.assertEqual(listed("online=false"), ["short"])
        self.assertEqual(listed("online=0"), ["short"])
        self.assertEqual(listed(""), ["long", "short"])
        # online is derived, so nothing was written while it went offline.
        r = d.post(self.apath("short", "/heartbeat"), {})
        self.assertIs(self.assertStatus(r, 200)["online"], True)
        self.assertIs(self.get_agent("short", d)["online"], True)
        self.assertEqual(listed("online=true"), ["long", "short"])
        self.assertEqual(listed("online=false"), [])
        # A longer timeout set by an update brings it back as well.
        time.sleep(2.2)
        self.assertEqual(listed("online=false"), ["short"])
        r = d.patch(self.apath("short"), {"timeout_seconds": 600})
        self.assertIs(self.assertStatus(r, 200)["online"], True)
        self.assertEqual(listed("online=false"), [])
        d.stop()


class ListTest(AgentTestBase):

    @classmethod
    def setUpClass(cls):
        # Its own daemon: the filters are checked against the exact set.
        cls.d = Daemon(["--reap-interval", "3600"])
        d = cls.d

        def reg(**f):
            r = d.post("/api/v1/agents", f)
            assert r.status == 201, r
            return r.body

        cls.a1 = reg(id="a1", kind="pi", host="h1", labels=["x"])
        cls.a2 = reg(id="a2", kind="smoke", host="h2", labels=["x", "y"])
        cls.a3 = reg(id="a3", kind="pi", host="h2")
        cls.b1 = reg(id="B1", kind="pi", host="h1", labels=["y"])
        cls.c1 = reg(id="c.1", kind="smoke", host="h3", labels=["x"])
        # Byte order: upper case sorts before lower case.
        cls.order = ["B1", "a1", "a2", "a3", "c.1"]

    def listing(self, query):
        r = self.d.get("/api/v1/agents" + (("?" + query) if query else ""))
        body = self.assertStatus(r, 200, query)
        self.assertEqual(set(body), {"items", "next"})
        return body

    def test_list_everything_in_id_order(self):
        body = self.listing("")
        self.assertEqual(ids(body["items"]), self.order)
        self.assertIsNone(body["next"])
        self.assertEqual(body["items"][1], self.get_agent("a1"))

    def test_filters(self):
        cases = {
            "kind=pi": ["B1", "a1", "a3"],
            "kind=smoke": ["a2", "c.1"],
            "kind=none": [],
            "host=h2": ["a2", "a3"],
            "label=x": ["a1", "a2", "c.1"],
            "label=y": ["B1", "a2"],
            "label=z": [],
            "state=idle": self.order,
            "state=working": [],
            "state=error": [],
            "online=true": self.order,
            "online=false": [],
            "kind=pi&host=h1": ["B1", "a1"],
            "kind=pi&label=x": ["a1"],
            "kind=smoke&host=h3&label=x&state=idle&online=true": ["c.1"],
        }
        for q, want in cases.items():
            with self.subTest(q=q):
                self.assertEqual(ids(self.listing(q)["items"]), want)

    def test_cursor_pagination(self):
        seen, after, pages = [], None, 0
        while True:
            q = "limit=2" + ("&after=" + quote(after) if after else "")
            body = self.listing(q)
            self.assertLessEqual(len(body["items"]), 2)
            seen += ids(body["items"])
            pages += 1
            if body["next"] is None:
                break
            self.assertEqual(body["next"], body["items"][-1]["id"])
            after = body["next"]
        self.assertEqual(seen, self.order)
        self.assertEqual(pages, 3)
        # A cursor combines with filters.
        body = self.listing("kind=pi&limit=1")
        self.assertEqual(ids(body["items"]), ["B1"])
        self.assertEqual(body["next"], "B1")
        body = self.listing("kind=pi&limit=1&after=B1")
        self.assertEqual(ids(body["items"]), ["a1"])
        body = self.listing("kind=pi&limit=5&after=a1")
        self.assertEqual(ids(body["items"]), ["a3"])
        self.assertIsNone(body["next"])
        # An exact last page has no next; a cursor past the end is empty.
        body = self.listing("limit=5")
        self.assertEqual(len(body["items"]), 5)
        self.assertIsNone(body["next"])
        self.assertEqual(self.listing("after=zzz"),
                         {"items": [], "next": None})
        # The cursor need not name an existing agent.
        self.assertEqual(ids(self.listing("after=a2x")["items"]),
                         ["a3", "c.1"])

    def test_bad_list_parameters_are_400(self):
        before = self.d.snapshot()
        for q, arg in (("state=sleeping", "state"), ("state=", "state"),
                       ("online=maybe", "online"), ("limit=0", "limit"),
                       ("limit=1001", "limit"), ("limit=abc", "limit"),
                       ("after=", "after"), ("after=" + "a" * 65, "after"),
                       ("kind=", "kind"), ("kind=" + "k" * 33, "kind"),
                       ("host=", "host"), ("label=", "label")):
            with self.subTest(q=q):
                r = self.d.get("/api/v1/agents?" + q)
                self.refused(r, 400, "invalid_argument", q, before,
                             argument=arg)
        r = self.d.get("/api/v1/agents?skill=c-lang")
        self.refused(r, 400, "unknown_argument", "an unknown filter", before)
        r = self.d.get("/api/v1/agents?kind=pi&kind=smoke")
        self.refused(r, 400, "duplicate_argument", "a repeated filter",
                     before)


class RemoveTest(AgentTestBase):

    def test_remove(self):
        a = self.register(id="rm-plain")
        r = self.d.delete(self.apath(a))
        self.assertStatus(r, 204)
        self.assertEqual(r.body, "")
        before = self.d.snapshot()
        self.refused(self.d.get(self.apath(a)), 404, "agent_not_found",
                     "get after remove", before)
        self.refused(self.d.delete(self.apath(a)), 404, "agent_not_found",
                     "remove twice", before)
        # The id is free again.
        self.assertEqual(self.register(id="rm-plain")["version"], 1)

    def test_remove_with_versions(self):
        a = self.register(id="rm-versioned")
        self.assertStatus(self.d.patch(self.apath(a), {"host": "h"}), 200)
        before = self.d.snapshot()
        r = self.d.delete(self.apath(a, "?version=1"))
        p = self.refused(r, 409, "version_conflict", "a stale query version",
                         before)
        self.assertEqual(p["current_version"], 2)
        r = self.d.delete(self.apath(a), headers={"If-Match": '"1"'})
        self.refused(r, 412, "version_conflict", "a stale If-Match", before)
        r = self.d.delete(self.apath(a, "?version=2"),
                          headers={"If-Match": '"2"'})
        self.refused(r, 400, "duplicate_argument", "version given twice",
                     before)
        for q, code in (("?version=0", "invalid_argument"),
                        ("?version=abc", "invalid_argument"),
                        ("?force=1", "unknown_argument")):
            r = self.d.delete(self.apath(a, q))
            self.refused(r, 400, code, "remove" + q, before)
        r = self.d.request("DELETE", self.apath(a), body={"version": 2})
        self.refused(r, 400, "unknown_argument", "a version in the body",
                     before)
        for bad in BAD_IDS:
            if "/" in bad:
                continue
            with self.subTest(id=bad):
                r = self.d.delete("/api/v1/agents/" + quote(bad))
                self.refused(r, 400, "invalid_argument", "remove %r" % bad,
                             before, argument="id")
        self.assertStatus(self.d.delete(self.apath(a),
                                        headers={"If-Match": '"2"'}), 204)
        b = self.register(id="rm-versioned-2")
        self.assertStatus(self.d.delete(self.apath(b, "?version=1")), 204)

    def test_remove_returns_claimed_tasks_to_todo(self):
        d = self.daemon(["--reap-interval", "3600"])
        self.register(d=d, id="leaver", skills=["c-lang"])
        t1 = d.create_task(title="one", requires_skills=["c-lang"])
        t2 = d.create_task(title="two")
        t3 = d.create_task(title="other's")
        t4 = d.create_task(title="finished")
        for t in (t1, t4):
            r = d.post(self.tpath(t, "/claim"), {"agent": "leaver"})
            self.assertEqual(self.assertStatus(r, 200)["outcome"], "claimed")
        r = d.post("/api/v1/tasks/claim", {"agent": "leaver"})
        self.assertEqual(self.assertStatus(r, 200)["task"]["id"], t2["id"])
        r = d.post(self.tpath(t3, "/claim"), {"agent": "stayer"})
        self.assertStatus(r, 200)
        r = d.post(self.tpath(t4, "/complete"), {"agent": "leaver"})
        self.assertEqual(self.assertStatus(r, 200)["status"], "done")
        a = self.get_agent("leaver", d)
        self.assertEqual(a["tasks"], [t1["id"], t2["id"]])
        self.assertEqual(a["current_task"], t1["id"])
        held = {t["id"]: d.get_task(t["id"]) for t in (t1, t2)}

        self.assertStatus(d.delete(self.apath("leaver")), 204)
        for tid, was in held.items():
            t = d.get_task(tid)
            self.assertEqual(t["status"], "todo", tid)
            self.assertIsNone(t["lease"], tid)
            self.assertIsNone(t["assignee"], tid)
            self.assertIs(t["ready"], True, tid)
            self.assertEqual(t["attempt"], was["attempt"], tid)
            self.assertEqual(t["version"], was["version"] + 1, tid)
        t = d.get_task(t3["id"])
        self.assertEqual(t["status"], "in_progress")
        self.assertEqual(t["lease"]["holder"], "stayer")
        self.assertEqual(d.get_task(t4["id"])["status"], "done")
        # The removed agent's late completion is refused.
        r = d.post(self.tpath(t1, "/complete"), {"agent": "leaver"})
        self.assertProblem(r, 409, "lease_lost")
        # Another agent with the skill takes the task over.
        self.register(d=d, id="taker", skills=["c-lang"])
        r = d.post(self.tpath(t1, "/claim"), {"agent": "taker"})
        body = self.assertStatus(r, 200)
        self.assertEqual(body["outcome"], "claimed")
        self.assertEqual(body["task"]["attempt"], 2)
        d.stop()

    def test_remove_returns_more_tasks_than_a_page(self):
        # More leases than LIMIT_LIST_MAX (1000): every one is returned.
        d = self.daemon(["--reap-interval", "3600"])
        self.register(d=d, id="hoarder")
        n = 1003
        for i in range(n):
            d.create_task(title="t%d" % i)
        for i in range(n):
            r = d.post("/api/v1/tasks/claim", {"agent": "hoarder"})
            self.assertStatus(r, 200)
        self.assertEqual(len(self.get_agent("hoarder", d)["tasks"]), n)
        self.assertStatus(d.delete(self.apath("hoarder")), 204)
        self.assertEqual(d.list_all("status=in_progress"), [])
        self.assertEqual(len(d.list_all("ready=true")), n)
        d.stop()


class RoutingTest(AgentTestBase):
    """Each test on a fresh board, so ready lists are exact."""

    @classmethod
    def setUpClass(cls):
        pass

    @classmethod
    def tearDownClass(cls):
        pass

    def setUp(self):
        DaemonTestCase.setUp(self)
        self.d = self.daemon(["--reap-interval", "3600"])

    def board(self):
        d = self.d
        self.plain = d.create_task(title="plain", priority=2)
        self.c = d.create_task(title="c", priority=1,
                               requires_skills=["c-lang"])
        self.cw = d.create_task(title="c+web", priority=0,
                                requires_skills=["c-lang", "web-testing"])
        self.w = d.create_task(title="web", priority=3,
                               requires_skills=["web-testing"])
        self.register(id="cdev", skills=["c-lang"])
        self.register(id="full", skills=["sql", "web-testing", "c-lang"])
        self.register(id="bare")

    def ready(self, agent=None):
        q = "?agent=" + quote(agent) if agent else ""
        r = self.d.get("/api/v1/tasks/ready" + q)
        return ids(self.assertStatus(r, 200, agent)["items"])

    def listed(self, query):
        return [t["id"] for t in self.d.list_all(query)]

    def test_task_carries_requires_skills(self):
        t = self.d.create_task(title="none")
        self.assertEqual(t["requires_skills"], [])
        t = self.d.create_task(title="some",
                               requires_skills=["c-lang", "a" * 64])
        self.assertEqual(t["requires_skills"], ["c-lang", "a" * 64])
        self.assertEqual(self.d.get_task(t["id"])["requires_skills"],
                         ["c-lang", "a" * 64])
        r = self.d.patch(self.tpath(t), {"version": 1,
                                         "requires_skills": ["sql"]})
        u = self.assertStatus(r, 200)
        self.assertEqual(u["requires_skills"], ["sql"])
        self.assertEqual(u["version"], 2)
        r = self.d.patch(self.tpath(t), {"version": 2, "title": "renamed"})
        self.assertEqual(self.assertStatus(r, 200)["requires_skills"],
                         ["sql"])

    def test_bad_requires_skills_change_nothing(self):
        t = self.d.create_task(title="t")
        before = self.d.snapshot()
        bodies = [["ok", bad] for bad in BAD_SKILLS]
        bodies += ["c-lang", [3], [None], {"c-lang": True},
                   ["s%d" % i for i in range(33)]]
        for bad in bodies:
            with self.subTest(requires_skills=bad):
                r = self.d.post("/api/v1/tasks", {"title": "x",
                                                  "requires_skills": bad})
                self.refused(r, 400, "invalid_argument", "create %r" % (bad,),
                             before, argument="requires_skills")
                r = self.d.patch(self.tpath(t), {"version": 1,
                                                 "requires_skills": bad})
                self.refused(r, 400, "invalid_argument", "update %r" % (bad,),
                             before, argument="requires_skills")
        r = self.d.post("/api/v1/tasks", {"title": "x",
                                          "requires_skills": None})
        self.refused(r, 400, "invalid_argument", "null requires_skills",
                     before)

    def test_agent_sees_only_tasks_it_has_the_skills_for(self):
        self.board()
        everything = [self.cw["id"], self.c["id"], self.plain["id"],
                      self.w["id"]]
        self.assertEqual(self.ready(), everything)
        self.assertEqual(self.ready("full"), everything)
        self.assertEqual(self.ready("cdev"), [self.c["id"],
                                              self.plain["id"]])
        self.assertEqual(self.ready("bare"), [self.plain["id"]])
        # An unregistered agent has no skills.
        self.assertEqual(self.ready("ghost"), [self.plain["id"]])
        by_id = sorted(everything)
        self.assertEqual(self.listed("ready=true"), by_id)
        self.assertEqual(self.listed("ready=true&agent=full"), by_id)
        self.assertEqual(self.listed("ready=true&agent=cdev"),
                         sorted([self.c["id"], self.plain["id"]]))
        self.assertEqual(self.listed("ready=true&agent=bare"),
                         [self.plain["id"]])
        self.assertEqual(self.listed("ready=true&agent=ghost"),
                         [self.plain["id"]])
        # With a page size of one, the cursor walks the same set.
        items, after = [], None
        while True:
            q = "/api/v1/tasks?ready=true&agent=cdev&limit=1"
            if after:
                q += "&after=" + after
            body = self.assertStatus(self.d.get(q), 200)
            items += ids(body["items"])
            after = body["next"]
            if after is None:
                break
        self.assertEqual(items, sorted([self.c["id"], self.plain["id"]]))
        # ?limit= applies after the routing filter.
        r = self.d.get("/api/v1/tasks/ready?agent=cdev&limit=1")
        self.assertEqual(ids(self.assertStatus(r, 200)["items"]),
                         [self.c["id"]])
        # Nothing of this wrote anything, not even last_seen.
        before = self.d.snapshot()
        self.ready("cdev")
        self.listed("ready=true&agent=cdev")
        self.unchanged(before, "reading ready lists")

    def test_bad_agent_parameter_is_400(self):
        before = self.d.snapshot()
        for bad in BAD_IDS + ("",):
            for path in ("/api/v1/tasks/ready?agent=",
                         "/api/v1/tasks?ready=true&agent="):
                with self.subTest(path=path, agent=bad):
                    r = self.d.get(path + quote(bad))
                    self.refused(r, 400, "invalid_argument", path + bad,
                                 before, argument="agent")

    def test_claim_by_id_needs_every_skill(self):
        self.board()
        before = self.d.snapshot()
        for agent, task in (("cdev", self.cw), ("cdev", self.w),
                            ("bare", self.c), ("ghost", self.c),
                            ("ghost", self.cw)):
            with self.subTest(agent=agent, task=task["title"]):
                r = self.d.post(self.tpath(task, "/claim"), {"agent": agent})
                p = self.refused(r, 409, "claim_denied", "%s claims %s"
                                 % (agent, task["title"]), before)
                self.assertEqual(p["outcome"], "denied")
                self.assertIn("skill", p["detail"])
                self.assertEqual(p["task"], self.d.get_task(task["id"]))
        for agent, task in (("full", self.cw), ("cdev", self.c),
                            ("bare", self.plain)):
            with self.subTest(agent=agent, task=task["title"]):
                r = self.d.post(self.tpath(task, "/claim"), {"agent": agent})
                body = self.assertStatus(r, 200)
                self.assertEqual(body["outcome"], "claimed")
                self.assertEqual(body["task"]["lease"]["holder"], agent)
        # Renewal by the holder is a claim too.
        r = self.d.post(self.tpath(self.cw, "/claim"), {"agent": "full"})
        self.assertEqual(self.assertStatus(r, 200)["outcome"], "renewed")
        self.assertEqual(self.get_agent("full")["tasks"], [self.cw["id"]])
        self.assertEqual(self.get_agent("cdev")["current_task"],
                         self.c["id"])

    def test_unregistered_agent_claims_only_unskilled_tasks(self):
        self.board()
        r = self.d.post(self.tpath(self.plain, "/claim"), {"agent": "ghost"})
        self.assertEqual(self.assertStatus(r, 200)["outcome"], "claimed")
        before = self.d.snapshot()
        r = self.d.post("/api/v1/tasks/claim", {"agent": "ghost"})
        self.refused(r, 404, "no_ready_task", "claim_next by ghost", before)
        # Claiming did not register it.
        self.assertProblem(self.d.get(self.apath("ghost")), 404,
                           "agent_not_found")

    def test_claim_next_skips_tasks_the_agent_cannot_do(self):
        self.board()
        # cdev: the highest-priority task it can do is c (cw needs web).
        r = self.d.post("/api/v1/tasks/claim", {"agent": "cdev"})
        self.assertEqual(self.assertStatus(r, 200)["task"]["id"],
                         self.c["id"])
        r = self.d.post("/api/v1/tasks/claim", {"agent": "cdev"})
        self.assertEqual(self.assertStatus(r, 200)["task"]["id"],
                         self.plain["id"])
        before = self.d.snapshot()
        r = self.d.post("/api/v1/tasks/claim", {"agent": "cdev"})
        self.refused(r, 404, "no_ready_task", "claim_next with nothing left "
                     "cdev can do", before)
        r = self.d.post("/api/v1/tasks/claim", {"agent": "bare"})
        self.refused(r, 404, "no_ready_task", "claim_next by bare", before)
        self.assertEqual(self.ready("cdev"), [])
        self.assertEqual(self.ready("full"), [self.cw["id"], self.w["id"]])
        r = self.d.post("/api/v1/tasks/claim", {"agent": "full"})
        self.assertEqual(self.assertStatus(r, 200)["task"]["id"],
                         self.cw["id"])
        r = self.d.post("/api/v1/tasks/claim", {"agent": "full"})
        self.assertEqual(self.assertStatus(r, 200)["task"]["id"],
                         self.w["id"])

    def test_routing_follows_changes_of_skills(self):
        self.board()
        self.assertEqual(self.ready("bare"), [self.plain["id"]])
        # The agent learns web-testing.
        r = self.d.patch(self.apath("bare"), {"skills": ["web-testing"]})
        self.assertStatus(r, 200)
        self.assertEqual(self.ready("bare"), [self.plain["id"],
                                              self.w["id"]])
        # The task stops requiring c-lang.
        r = self.d.patch(self.tpath(self.c), {"version": 1,
                                              "requires_skills": []})
        self.assertStatus(r, 200)
        self.assertEqual(self.ready("bare"), [self.c["id"], self.plain["id"],
                                              self.w["id"]])
        self.assertEqual(self.ready("ghost"), [self.c["id"],
                                               self.plain["id"]])
        # A removed agent is as good as an unregistered one.
        self.assertStatus(self.d.delete(self.apath("full")), 204)
        self.assertEqual(self.ready("full"), self.ready("ghost"))

    def test_an_expired_lease_is_stolen_only_with_the_skills(self):
        self.board()
        r = self.d.post(self.tpath(self.c, "/claim"),
                        {"agent": "full", "lease_seconds": 1})
        self.assertStatus(r, 200)
        time.sleep(1.5)
        before = self.d.snapshot()
        r = self.d.post(self.tpath(self.c, "/claim"), {"agent": "bare"})
        self.refused(r, 409, "claim_denied", "a steal without the skill",
                     before)
        r = self.d.post(self.tpath(self.c, "/claim"), {"agent": "cdev"})
        body = self.assertStatus(r, 200)
        self.assertEqual(body["outcome"], "stolen")
        self.assertEqual(body["task"]["lease"]["holder"], "cdev")

    def test_last_seen_moves_with_task_activity(self):
        self.board()

        def seen(agent):
            return parse_time(self.get_agent(agent)["last_seen"])

        last = seen("cdev")
        steps = (
            ("claim", lambda: self.d.post(self.tpath(self.c, "/claim"),
                                          {"agent": "cdev"})),
            ("renew", lambda: self.d.post(self.tpath(self.c, "/claim"),
                                          {"agent": "cdev"})),
            ("task heartbeat", lambda: self.d.post(
                self.tpath(self.c, "/heartbeat"), {"agent": "cdev"})),
            ("release", lambda: self.d.post(self.tpath(self.c, "/release"),
                                            {"agent": "cdev"})),
            ("claim_next", lambda: self.d.post("/api/v1/tasks/claim",
                                               {"agent": "cdev"})),
            ("complete", lambda: self.d.post(
                self.tpath(self.c, "/complete"), {"agent": "cdev"})),
            ("agent heartbeat", lambda: self.d.post(
                self.apath("cdev", "/heartbeat"), {})),
        )
        for name, step in steps:
            with self.subTest(step=name):
                time.sleep(0.05)
                self.assertStatus(step(), 200, name)
                now = seen("cdev")
                self.assertGreater(now, last, name)
                last = now
        a = self.get_agent("cdev")
        self.assertEqual(a["version"], 1)
        self.assertEqual(a["tasks"], [])
        self.assertIsNone(a["current_task"])
        # A refused claim is no sign of life: nothing is written.
        before = self.d.snapshot()
        r = self.d.post(self.tpath(self.cw, "/claim"), {"agent": "cdev"})
        self.refused(r, 409, "claim_denied", "a denied claim", before)
        # Another agent's activity does not touch cdev.
        r = self.d.post(self.tpath(self.cw, "/claim"), {"agent": "full"})
        self.assertStatus(r, 200)
        self.assertEqual(seen("cdev"), last)


if __name__ == "__main__":
    colibri_test.main()
