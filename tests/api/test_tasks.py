"""Every task operation of colibrid over real HTTP: create, get, list
(filters, cursor pagination), ready, update (version / If-Match), delete,
claim (claimed, renewed, denied, stolen), heartbeat, release, complete,
claim_next, dependencies, and the lease reaper."""

import datetime
import threading
import time

import colibri_test
from colibri_test import (Daemon, DaemonTestCase, SharedDaemonTestCase,
                          wait_until)

TIME_RE = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$"


def parse_time(text):
    return datetime.datetime.strptime(text.replace("Z", "+0000"),
                                      "%Y-%m-%dT%H:%M:%S.%f%z")


def ids(items):
    return [t["id"] for t in items]


class TaskTestBase(SharedDaemonTestCase):
    """A shared daemon whose reaper practically never runs, so lease
    expiry can be observed without the reaper returning the task."""

    daemon_args = ["--reap-interval", "3600"]

    def path(self, task, suffix=""):
        tid = task if isinstance(task, int) else task["id"]
        return "/api/v1/tasks/%d%s" % (tid, suffix)

    def claim(self, task, agent, lease=None, d=None):
        d = d or self.d
        body = {"agent": agent}
        if lease is not None:
            body["lease_seconds"] = lease
        return d.post(self.path(task, "/claim"), body)

    def unchanged(self, before, what, d=None):
        d = d or self.d
        self.assertEqual(d.snapshot(), before,
                         "the database changed after %s" % what)


class CreateGetTest(TaskTestBase):

    def test_create_defaults(self):
        r = self.d.post("/api/v1/tasks", {"title": "first"})
        t = self.assertStatus(r, 201)
        self.assertEqual(r.headers.get("Location"),
                         "/api/v1/tasks/%d" % t["id"])
        self.assertEqual(r.headers.get("ETag"), '"1"')
        self.assertTrue(r.headers["Content-Type"].startswith(
            "application/json"))
        self.assertIsInstance(t["id"], int)
        self.assertEqual(t["title"], "first")
        self.assertEqual(t["body"], "")
        self.assertEqual(t["status"], "todo")
        self.assertEqual(t["priority"], 2)
        self.assertEqual(t["labels"], [])
        self.assertIsNone(t["assignee"])
        self.assertEqual(t["depends_on"], [])
        self.assertIs(t["ready"], True)
        self.assertIsNone(t["lease"])
        self.assertEqual(t["attempt"], 0)
        self.assertEqual(t["version"], 1)
        self.assertIsNone(t["result"])
        self.assertRegex(t["created_at"], TIME_RE)
        self.assertEqual(t["updated_at"], t["created_at"])
        self.assertIsNone(t["closed_at"])
        # The Location names the task.
        g = self.d.get(r.headers["Location"])
        self.assertEqual(self.assertStatus(g, 200), t)
        self.assertEqual(g.headers.get("ETag"), '"1"')

    def test_create_with_every_field(self):
        dep = self.d.create_task(title="dep")
        fields = {"title": "full", "body": "do it\nwell", "priority": 0,
                  "labels": ["api", "urgent"], "assignee": "alice",
                  "depends_on": [dep["id"]], "status": "blocked",
                  "result": {"partial": [1, 2, {"x": None}]}}
        r = self.d.post("/api/v1/tasks", fields)
        t = self.assertStatus(r, 201)
        for k, v in fields.items():
            self.assertEqual(t[k], v, k)
        self.assertIs(t["ready"], False)
        self.assertEqual(self.d.get_task(t["id"]), t)

    def test_create_closed_sets_closed_at(self):
        t = self.d.create_task(title="already done", status="done")
        self.assertEqual(t["status"], "done")
        self.assertRegex(t["closed_at"] or "", TIME_RE)
        t = self.d.create_task(title="never mind", status="cancelled")
        self.assertRegex(t["closed_at"] or "", TIME_RE)

    def test_create_in_progress_is_refused(self):
        before = self.d.snapshot()
        r = self.d.post("/api/v1/tasks", {"title": "x",
                                          "status": "in_progress"})
        self.assertProblem(r, 400, "invalid_argument")
        self.unchanged(before, "a create with status in_progress")

    def test_create_with_unknown_dependency_creates_nothing(self):
        real = self.d.create_task(title="real dep")
        before = self.d.snapshot()
        r = self.d.post("/api/v1/tasks", {"title": "orphan",
                                          "depends_on": [real["id"],
                                                         999999]})
        self.assertProblem(r, 422, "dependency_not_found")
        self.unchanged(before, "a create with an unknown dependency")
        # The id sequence is not burnt either: the next task follows.
        t = self.d.create_task(title="next")
        self.assertEqual(t["id"], before["tasks"][-1][0] + 1)

    def test_get_missing_task_is_404(self):
        self.assertProblem(self.d.get("/api/v1/tasks/987654"), 404,
                           "task_not_found")

    def test_non_numeric_id_is_404(self):
        for method, path, body in (
                ("GET", "/api/v1/tasks/abc", None),
                ("PATCH", "/api/v1/tasks/abc", {"version": 1}),
                ("DELETE", "/api/v1/tasks/abc", None),
                ("POST", "/api/v1/tasks/abc/claim", {"agent": "a"}),
                ("POST", "/api/v1/tasks/1/deps", {"depends_on": "abc"}),
                ("DELETE", "/api/v1/tasks/1/deps/abc", None)):
            with self.subTest(method=method, path=path):
                r = self.d.request(method, path, body=body)
                if body and body.get("depends_on") == "abc":
                    # In the body it is an argument, not a path.
                    self.assertProblem(r, 400, "invalid_argument")
                else:
                    self.assertProblem(r, 404)


class ListTest(TaskTestBase):

    @classmethod
    def setUpClass(cls):
        # Its own daemon: the filters are checked against the exact board.
        cls.d = Daemon(["--reap-interval", "3600"])
        d = cls.d
        cls.t1 = d.create_task(title="t1", priority=1, labels=["x"],
                               assignee="alice")
        cls.t2 = d.create_task(title="t2", status="blocked",
                               labels=["x", "y"])
        cls.t3 = d.create_task(title="t3", status="done", assignee="bob")
        cls.t4 = d.create_task(title="t4", status="review", priority=0,
                               labels=["y"])
        cls.t5 = d.create_task(title="t5", depends_on=[cls.t2["id"]],
                               assignee="alice")
        cls.t6 = d.create_task(title="t6", status="cancelled", priority=4)
        cls.t7 = d.create_task(title="t7", depends_on=[cls.t3["id"]],
                               priority=0)

    def listing(self, query):
        r = self.d.get("/api/v1/tasks" + (("?" + query) if query else ""))
        body = self.assertStatus(r, 200, query)
        self.assertIn("items", body)
        self.assertIn("next", body)
        return body

    def test_list_everything_in_id_order(self):
        body = self.listing("")
        self.assertEqual(ids(body["items"]),
                         [t["id"] for t in (self.t1, self.t2, self.t3,
                                            self.t4, self.t5, self.t6,
                                            self.t7)])
        self.assertIsNone(body["next"])
        self.assertEqual(body["items"][0], self.d.get_task(self.t1["id"]))

    def test_status_filter(self):
        cases = {
            "status=todo": [self.t1, self.t5, self.t7],
            "status=done": [self.t3],
            "status=todo,done": [self.t1, self.t3, self.t5, self.t7],
            "status=blocked,review,cancelled": [self.t2, self.t4, self.t6],
            "status=in_progress": [],
        }
        for q, want in cases.items():
            with self.subTest(q=q):
                self.assertEqual(ids(self.listing(q)["items"]), ids(want))

    def test_invalid_status_filter_is_400(self):
        for q in ("status=bogus", "status=todo,bogus", "status=,todo",
                  "status=todo,,done", "status=TODO", "status="):
            with self.subTest(q=q):
                r = self.d.get("/api/v1/tasks?" + q)
                p = self.assertProblem(r, 400)
                self.assertEqual(p.get("argument"), "status", repr(r))

    def test_assignee_label_priority_filters(self):
        cases = {
            "assignee=alice": [self.t1, self.t5],
            "assignee=bob": [self.t3],
            "assignee=nobody": [],
            "label=x": [self.t1, self.t2],
            "label=y": [self.t2, self.t4],
            "label=z": [],
            "priority=0": [self.t4, self.t7],
            "priority=4": [self.t6],
            "priority=2": [self.t2, self.t3, self.t5],
            "label=x&status=todo": [self.t1],
            "assignee=alice&priority=1": [self.t1],
        }
        for q, want in cases.items():
            with self.subTest(q=q):
                self.assertEqual(ids(self.listing(q)["items"]), ids(want))

    def test_ready_filter(self):
        # t5 waits on t2 (blocked); t7's dependency t3 is done.
        items = self.listing("ready=true")["items"]
        self.assertEqual(ids(items), ids([self.t1, self.t7]))
        self.assertTrue(all(t["ready"] for t in items))
        self.assertEqual(ids(self.listing("ready=1")["items"]),
                         ids([self.t1, self.t7]))
        self.assertEqual(ids(self.listing("ready=true&priority=0")["items"]),
                         ids([self.t7]))
        self.assertEqual(self.d.get_task(self.t5["id"])["ready"], False)

    def test_bad_filter_values_are_400(self):
        for q, arg in (("priority=5", "priority"), ("priority=-1",
                                                    "priority"),
                       ("priority=high", "priority"), ("ready=maybe",
                                                       "ready"),
                       ("limit=0", "limit"), ("limit=1001", "limit"),
                       ("limit=-5", "limit"), ("after=abc", "after"),
                       ("after=-3", "after")):
            with self.subTest(q=q):
                p = self.assertProblem(self.d.get("/api/v1/tasks?" + q), 400)
                self.assertEqual(p.get("argument"), arg)


class PaginationTest(TaskTestBase):

    @classmethod
    def setUpClass(cls):
        cls.d = Daemon(["--reap-interval", "3600"])
        cls.created = [cls.d.create_task(title="page %02d" % i)["id"]
                       for i in range(25)]

    def test_cursor_pagination(self):
        seen, pages, after = [], [], None
        while True:
            q = "limit=10" + ("&after=%s" % after if after else "")
            r = self.d.get("/api/v1/tasks?" + q)
            body = self.assertStatus(r, 200)
            pages.append(len(body["items"]))
            seen.extend(ids(body["items"]))
            after = body["next"]
            if after is None:
                break
            self.assertIsInstance(after, str)
            self.assertLess(len(pages), 10, "pagination does not end")
        self.assertEqual(pages, [10, 10, 5])
        self.assertEqual(len(seen), len(set(seen)), "duplicates: %r" % seen)
        self.assertEqual(seen, self.created)

    def test_exact_page_has_no_next(self):
        body = self.assertStatus(self.d.get("/api/v1/tasks?limit=25"), 200)
        self.assertEqual(len(body["items"]), 25)
        self.assertIsNone(body["next"])
        body = self.assertStatus(self.d.get("/api/v1/tasks?limit=24"), 200)
        self.assertEqual(len(body["items"]), 24)
        self.assertIsNotNone(body["next"])
        body = self.assertStatus(self.d.get(
            "/api/v1/tasks?limit=24&after=%s" % body["next"]), 200)
        self.assertEqual(ids(body["items"]), self.created[24:])
        self.assertIsNone(body["next"])

    def test_limit_bounds(self):
        body = self.assertStatus(self.d.get("/api/v1/tasks?limit=1000"), 200)
        self.assertEqual(ids(body["items"]), self.created)
        body = self.assertStatus(self.d.get("/api/v1/tasks?limit=1"), 200)
        self.assertEqual(ids(body["items"]), self.created[:1])
        p = self.assertProblem(self.d.get("/api/v1/tasks?limit=1001"), 400,
                               "invalid_argument")
        self.assertEqual(p.get("argument"), "limit")
        # The default page holds them all (100 > 25).
        body = self.assertStatus(self.d.get("/api/v1/tasks"), 200)
        self.assertEqual(len(body["items"]), 25)

    def test_list_all_helper_follows_pages(self):
        self.assertEqual(ids(self.d.list_all(limit=7)), self.created)


class ReadyAndClaimNextTest(TaskTestBase):

    def setUp(self):
        super().setUp()
        # A fresh board for each test: claim_next sees every task.
        self.d2 = self.daemon(["--reap-interval", "3600"])

    def board(self):
        d = self.d2
        t = {}
        t["a"] = d.create_task(title="a p2")
        t["b"] = d.create_task(title="b p0", priority=0)
        t["c"] = d.create_task(title="c p2")
        t["d"] = d.create_task(title="d p1", priority=1)
        t["e"] = d.create_task(title="e p0", priority=0)
        t["f"] = d.create_task(title="f p0 waits on a", priority=0,
                               depends_on=[t["a"]["id"]])
        t["g"] = d.create_task(title="g p0 blocked", priority=0,
                               status="blocked")
        t["h"] = d.create_task(title="h p0 done", priority=0, status="done")
        t["i"] = d.create_task(title="i p4", priority=4)
        return t

    def test_ready_is_by_priority_then_age(self):
        t = self.board()
        body = self.assertStatus(self.d2.get("/api/v1/tasks/ready"), 200)
        want = [t[k]["id"] for k in "bedaci"]
        self.assertEqual(ids(body["items"]), want)
        self.assertTrue(all(x["ready"] for x in body["items"]))
        body = self.assertStatus(self.d2.get("/api/v1/tasks/ready?limit=2"),
                                 200)
        self.assertEqual(ids(body["items"]), want[:2])
        self.assertProblem(self.d2.get("/api/v1/tasks/ready?limit=1001"),
                           400, "invalid_argument")
        self.assertProblem(self.d2.get("/api/v1/tasks/ready?status=todo"),
                           400, "unknown_argument")

    def test_claim_next_takes_highest_priority_then_oldest(self):
        t = self.board()
        got = []
        for _ in range(6):
            r = self.d2.post("/api/v1/tasks/claim", {"agent": "worker"})
            body = self.assertStatus(r, 200)
            self.assertEqual(body["outcome"], "claimed")
            self.assertEqual(body["task"]["status"], "in_progress")
            self.assertEqual(body["task"]["lease"]["holder"], "worker")
            got.append(body["task"]["id"])
        self.assertEqual(got, [t[k]["id"] for k in "bedaci"])
        # f waits on a (claimed, not done): nothing else is ready.
        before = self.d2.snapshot()
        r = self.d2.post("/api/v1/tasks/claim", {"agent": "worker"})
        self.assertProblem(r, 404, "no_ready_task")
        self.unchanged(before, "claim_next with nothing ready", self.d2)
        # Finishing a makes f ready, and it is next.
        r = self.d2.post(self.path(t["a"], "/complete"), {"agent": "worker"})
        self.assertStatus(r, 200)
        r = self.d2.post("/api/v1/tasks/claim", {"agent": "other",
                                                 "lease_seconds": 30})
        body = self.assertStatus(r, 200)
        self.assertEqual(body["task"]["id"], t["f"]["id"])

    def test_claim_next_on_empty_board_and_bad_args(self):
        r = self.d2.post("/api/v1/tasks/claim", {"agent": "w"})
        self.assertProblem(r, 404, "no_ready_task")
        p = self.assertProblem(self.d2.post("/api/v1/tasks/claim", {}), 400,
                               "missing_argument")
        self.assertEqual(p.get("argument"), "agent")
        self.assertProblem(self.d2.post("/api/v1/tasks/claim",
                                        {"agent": ""}), 400,
                           "invalid_argument")
        self.assertProblem(self.d2.post("/api/v1/tasks/claim",
                                        {"agent": "w", "lease_seconds": 0}),
                           400, "invalid_argument")


class UpdateDeleteTest(TaskTestBase):

    def test_update_with_version_in_body(self):
        t = self.d.create_task(title="old", body="b0")
        r = self.d.patch(self.path(t), {"version": 1, "title": "new",
                                        "body": "b1", "priority": 0,
                                        "labels": ["z"],
                                        "assignee": "bob",
                                        "result": {"draft": True}})
        u = self.assertStatus(r, 200)
        self.assertEqual(r.headers.get("ETag"), '"2"')
        self.assertEqual(u["version"], 2)
        for k, v in (("title", "new"), ("body", "b1"), ("priority", 0),
                     ("labels", ["z"]), ("assignee", "bob"),
                     ("result", {"draft": True}), ("status", "todo")):
            self.assertEqual(u[k], v, k)
        self.assertEqual(u["created_at"], t["created_at"])
        self.assertGreaterEqual(parse_time(u["updated_at"]),
                                parse_time(t["updated_at"]))
        self.assertEqual(self.d.get_task(t["id"]), u)
        # null clears the assignee; labels are replaced, not merged.
        r = self.d.patch(self.path(t), {"version": 2, "assignee": None,
                                        "labels": []})
        u = self.assertStatus(r, 200)
        self.assertIsNone(u["assignee"])
        self.assertEqual(u["labels"], [])
        self.assertEqual(u["version"], 3)

    def test_update_with_if_match(self):
        t = self.d.create_task(title="etag")
        r = self.d.patch(self.path(t), {"title": "etag 2"},
                         headers={"If-Match": '"1"'})
        u = self.assertStatus(r, 200)
        self.assertEqual(u["version"], 2)
        self.assertEqual(r.headers.get("ETag"), '"2"')
        # The ETag of a GET is what If-Match takes back.
        etag = self.d.get(self.path(t)).headers["ETag"]
        r = self.d.patch(self.path(t), {"title": "etag 3"},
                         headers={"If-Match": etag})
        self.assertEqual(self.assertStatus(r, 200)["version"], 3)
        r = self.d.patch(self.path(t), {"title": "etag 4"},
                         headers={"If-Match": 'W/"3"'})
        self.assertEqual(self.assertStatus(r, 200)["version"], 4)

    def test_stale_version_in_body_is_409_and_changes_nothing(self):
        t = self.d.create_task(title="contended")
        self.assertStatus(self.d.patch(self.path(t), {"version": 1,
                                                      "priority": 3}), 200)
        before = self.d.snapshot()
        r = self.d.patch(self.path(t), {"version": 1, "title": "lost"})
        p = self.assertProblem(r, 409, "version_conflict")
        self.assertEqual(p.get("current_version"), 2)
        r = self.d.patch(self.path(t), {"version": 7, "title": "future"})
        self.assertProblem(r, 409, "version_conflict")
        self.unchanged(before, "a stale update")
        self.assertEqual(self.d.get_task(t["id"])["title"], "contended")

    def test_stale_if_match_is_412_and_changes_nothing(self):
        t = self.d.create_task(title="contended 412")
        self.assertStatus(self.d.patch(self.path(t), {"version": 1,
                                                      "priority": 3}), 200)
        before = self.d.snapshot()
        r = self.d.patch(self.path(t), {"title": "lost"},
                         headers={"If-Match": '"1"'})
        p = self.assertProblem(r, 412, "version_conflict")
        self.assertEqual(p.get("current_version"), 2)
        self.unchanged(before, "a stale If-Match update")

    def test_missing_version_is_428(self):
        t = self.d.create_task(title="unversioned")
        before = self.d.snapshot()
        r = self.d.patch(self.path(t), {"title": "sneaky"})
        self.assertProblem(r, 428, "version_required")
        self.unchanged(before, "an update without a version")

    def test_bad_updates_change_nothing(self):
        t = self.d.create_task(title="guarded")
        before = self.d.snapshot()
        cases = [
            ({"version": 1, "status": "in_progress"}, {},
             422, "invalid_status"),
            ({"version": 1, "status": "sleeping"}, {},
             400, "invalid_argument"),
            ({"version": 1, "title": ""}, {}, 400, "invalid_argument"),
            ({"version": 1, "priority": 9}, {}, 400, "invalid_argument"),
            ({"version": 1, "colour": "red"}, {}, 400, "unknown_argument"),
            ({"version": 0, "title": "x"}, {}, 400, "invalid_argument"),
            ({"title": "x"}, {"If-Match": "abc"}, 400, "invalid_header"),
            ({"title": "x"}, {"If-Match": '"0"'}, 400, "invalid_header"),
        ]
        for body, headers, status, code in cases:
            with self.subTest(body=body, headers=headers):
                r = self.d.patch(self.path(t), body, headers=headers)
                self.assertProblem(r, status, code)
        self.unchanged(before, "refused updates")
        r = self.d.patch("/api/v1/tasks/987654", {"version": 1,
                                                  "title": "x"})
        self.assertProblem(r, 404, "task_not_found")

    def test_if_match_is_refused_where_it_does_not_apply(self):
        t = self.d.create_task(title="no if-match on claim")
        before = self.d.snapshot()
        r = self.d.post(self.path(t, "/claim"), {"agent": "a"},
                        headers={"If-Match": '"1"'})
        self.assertProblem(r, 400, "invalid_header")
        self.unchanged(before, "If-Match on claim")

    def test_leaving_in_progress_ends_the_lease(self):
        t = self.d.create_task(title="taken back")
        c = self.assertStatus(self.claim(t, "holder", 60), 200)
        v = c["task"]["version"]
        r = self.d.patch(self.path(t), {"version": v, "status": "todo"})
        u = self.assertStatus(r, 200)
        self.assertEqual(u["status"], "todo")
        self.assertIsNone(u["lease"])
        r = self.d.post(self.path(t, "/heartbeat"), {"agent": "holder"})
        self.assertProblem(r, 409, "lease_lost")
        r = self.d.post(self.path(t, "/complete"), {"agent": "holder"})
        self.assertProblem(r, 409, "lease_lost")

    def test_delete(self):
        t = self.d.create_task(title="doomed")
        r = self.d.delete(self.path(t))
        self.assertEqual(r.status, 204, repr(r))
        self.assertEqual(r.raw, b"")
        self.assertProblem(self.d.get(self.path(t)), 404, "task_not_found")
        self.assertProblem(self.d.delete(self.path(t)), 404,
                           "task_not_found")

    def test_delete_refused_while_a_task_depends_on_it(self):
        a = self.d.create_task(title="needed")
        b = self.d.create_task(title="needs", depends_on=[a["id"]])
        before = self.d.snapshot()
        r = self.d.delete(self.path(a))
        self.assertProblem(r, 409, "task_has_dependents")
        self.unchanged(before, "a refused delete")
        self.assertEqual(self.d.delete(self.path(b)).status, 204)
        self.assertEqual(self.d.delete(self.path(a)).status, 204)

    def test_delete_with_version(self):
        t = self.d.create_task(title="versioned delete")
        before = self.d.snapshot()
        r = self.d.delete(self.path(t, "?version=5"))
        p = self.assertProblem(r, 409, "version_conflict")
        self.assertEqual(p.get("current_version"), 1)
        r = self.d.delete(self.path(t), headers={"If-Match": '"5"'})
        self.assertProblem(r, 412, "version_conflict")
        self.unchanged(before, "stale deletes")
        r = self.d.delete(self.path(t, "?version=1"))
        self.assertEqual(r.status, 204, repr(r))
        t = self.d.create_task(title="etag delete")
        r = self.d.delete(self.path(t), headers={"If-Match": '"1"'})
        self.assertEqual(r.status, 204, repr(r))


class LeaseTest(TaskTestBase):

    def test_claim_renew_deny(self):
        t = self.d.create_task(title="lease me")
        r = self.claim(t, "agent-a", 60)
        body = self.assertStatus(r, 200)
        self.assertEqual(body["outcome"], "claimed")
        c = body["task"]
        self.assertEqual(c["id"], t["id"])
        self.assertEqual(c["status"], "in_progress")
        self.assertEqual(c["attempt"], 1)
        self.assertEqual(c["assignee"], "agent-a")
        self.assertEqual(c["lease"]["holder"], "agent-a")
        self.assertRegex(c["lease"]["expires_at"], TIME_RE)
        self.assertGreater(parse_time(c["lease"]["expires_at"]),
                           parse_time(c["updated_at"]))
        self.assertIs(c["ready"], False)
        self.assertEqual(c["version"], 2)
        # Same agent again: renewed, same attempt.
        r = self.claim(t, "agent-a", 120)
        body = self.assertStatus(r, 200)
        self.assertEqual(body["outcome"], "renewed")
        self.assertEqual(body["task"]["attempt"], 1)
        self.assertEqual(body["task"]["lease"]["holder"], "agent-a")
        self.assertGreater(parse_time(body["task"]["lease"]["expires_at"]),
                           parse_time(c["lease"]["expires_at"]))
        # Another agent while the lease is live: denied, nothing changes.
        before = self.d.snapshot()
        r = self.claim(t, "agent-b", 60)
        p = self.assertProblem(r, 409)
        self.assertEqual(p.get("outcome"), "denied")
        self.assertIsInstance(p.get("task"), dict)
        self.assertEqual(p["task"]["id"], t["id"])
        self.assertEqual(p["task"]["lease"]["holder"], "agent-a")
        self.unchanged(before, "a denied claim")

    def test_claim_denied_by_undone_dependency(self):
        a = self.d.create_task(title="first")
        b = self.d.create_task(title="second", depends_on=[a["id"]])
        before = self.d.snapshot()
        r = self.claim(b, "eager")
        p = self.assertProblem(r, 409)
        self.assertEqual(p.get("outcome"), "denied")
        self.assertEqual(p["task"]["id"], b["id"])
        self.assertEqual(p["task"]["status"], "todo")
        self.unchanged(before, "a claim of a waiting task")

    def test_claim_denied_for_closed_or_blocked(self):
        for status in ("done", "cancelled", "blocked", "review"):
            with self.subTest(status=status):
                t = self.d.create_task(title=status, status=status)
                before = self.d.snapshot()
                p = self.assertProblem(self.claim(t, "eager"), 409)
                self.assertEqual(p.get("outcome"), "denied")
                self.unchanged(before, "a claim of a %s task" % status)

    def test_claim_bad_arguments(self):
        t = self.d.create_task(title="args")
        before = self.d.snapshot()
        p = self.assertProblem(self.d.post(self.path(t, "/claim"), {}), 400,
                               "missing_argument")
        self.assertEqual(p.get("argument"), "agent")
        for lease in (0, -1, 86401, "60"):
            with self.subTest(lease=lease):
                self.assertProblem(self.claim(t, "a", lease), 400,
                                   "invalid_argument")
        self.assertProblem(self.d.post(self.path(t, "/claim"),
                                       {"agent": "a" * 129}), 400,
                           "invalid_argument")
        self.unchanged(before, "bad claims")
        self.assertProblem(self.claim(987654, "a"), 404, "task_not_found")

    def test_heartbeat(self):
        t = self.d.create_task(title="beat")
        c = self.assertStatus(self.claim(t, "hb", 60), 200)["task"]
        r = self.d.post(self.path(t, "/heartbeat"),
                        {"agent": "hb", "lease_seconds": 600})
        h = self.assertStatus(r, 200)
        self.assertEqual(h["lease"]["holder"], "hb")
        self.assertGreater(parse_time(h["lease"]["expires_at"]),
                           parse_time(c["lease"]["expires_at"]))
        # A heartbeat does not change the version.
        self.assertEqual(h["version"], c["version"])
        r = self.d.post(self.path(t, "/heartbeat"),
                        {"agent": "hb", "attempt": 1})
        self.assertStatus(r, 200)
        before = self.d.snapshot()
        for body in ({"agent": "hb", "attempt": 2},
                     {"agent": "someone-else"}):
            with self.subTest(body=body):
                r = self.d.post(self.path(t, "/heartbeat"), body)
                self.assertProblem(r, 409, "lease_lost")
        self.unchanged(before, "refused heartbeats")
        todo = self.d.create_task(title="unclaimed")
        r = self.d.post(self.path(todo, "/heartbeat"), {"agent": "hb"})
        self.assertProblem(r, 409, "lease_lost")

    def test_release(self):
        t = self.d.create_task(title="give back")
        self.assertStatus(self.claim(t, "rel", 60), 200)
        before = self.d.snapshot()
        self.assertProblem(self.d.post(self.path(t, "/release"),
                                       {"agent": "thief"}), 409,
                           "lease_lost")
        self.assertProblem(self.d.post(self.path(t, "/release"),
                                       {"agent": "rel", "attempt": 5}), 409,
                           "lease_lost")
        self.unchanged(before, "refused releases")
        r = self.d.post(self.path(t, "/release"), {"agent": "rel",
                                                   "attempt": 1})
        u = self.assertStatus(r, 200)
        self.assertEqual(u["status"], "todo")
        self.assertIsNone(u["lease"])
        self.assertIs(u["ready"], True)
        self.assertEqual(u["attempt"], 1)
        self.assertProblem(self.d.post(self.path(t, "/release"),
                                       {"agent": "rel"}), 409, "lease_lost")
        # Claimed again, it is the next attempt.
        body = self.assertStatus(self.claim(t, "rel2", 60), 200)
        self.assertEqual(body["outcome"], "claimed")
        self.assertEqual(body["task"]["attempt"], 2)

    def test_complete(self):
        t = self.d.create_task(title="finish")
        c = self.assertStatus(self.claim(t, "fin", 60), 200)["task"]
        result = {"ok": True, "files": ["a.c", "b.c"], "n": 3,
                  "note": "caf\u00e9"}
        r = self.d.post(self.path(t, "/complete"),
                        {"agent": "fin", "attempt": 1, "result": result})
        u = self.assertStatus(r, 200)
        self.assertEqual(u["status"], "done")
        self.assertEqual(u["result"], result)
        self.assertRegex(u["closed_at"] or "", TIME_RE)
        self.assertIsNone(u["lease"])
        self.assertEqual(u["attempt"], 1)
        self.assertGreater(u["version"], c["version"])
        self.assertEqual(self.d.get_task(t["id"]), u)
        # Done is final for the holder: a second complete is refused.
        before = self.d.snapshot()
        self.assertProblem(self.d.post(self.path(t, "/complete"),
                                       {"agent": "fin"}), 409, "lease_lost")
        self.unchanged(before, "a second complete")

    def test_complete_to_review_keeps_it_open(self):
        t = self.d.create_task(title="check me")
        self.assertStatus(self.claim(t, "rev", 60), 200)
        r = self.d.post(self.path(t, "/complete"),
                        {"agent": "rev", "status": "review"})
        u = self.assertStatus(r, 200)
        self.assertEqual(u["status"], "review")
        self.assertIsNone(u["closed_at"])
        self.assertIsNone(u["result"])
        t2 = self.d.create_task(title="bad status")
        self.assertStatus(self.claim(t2, "rev", 60), 200)
        self.assertProblem(self.d.post(self.path(t2, "/complete"),
                                       {"agent": "rev",
                                        "status": "cancelled"}), 400,
                           "invalid_argument")

    def test_complete_with_wrong_attempt_is_409(self):
        t = self.d.create_task(title="attempts")
        self.assertStatus(self.claim(t, "att", 60), 200)
        before = self.d.snapshot()
        for attempt in (0, 2):
            with self.subTest(attempt=attempt):
                r = self.d.post(self.path(t, "/complete"),
                                {"agent": "att", "attempt": attempt,
                                 "result": "late"})
                self.assertProblem(r, 409, "lease_lost")
        self.unchanged(before, "completes with a wrong attempt")

    def test_expired_lease_is_stolen_and_old_holder_refused(self):
        # One wait serves every scenario: three tasks with 1 s leases.
        tasks = [self.d.create_task(title="steal %d" % i) for i in range(3)]
        for t in tasks:
            self.assertEqual(self.assertStatus(self.claim(t, "slow", 1),
                                               200)["outcome"], "claimed")
        time.sleep(2.5)
        # The reaper (interval 3600 s) did not touch them.
        for t in tasks:
            self.assertEqual(self.d.get_task(t["id"])["status"],
                             "in_progress")
        stolen = []
        for t in tasks:
            r = self.claim(t, "fast", 60)
            body = self.assertStatus(r, 200)
            self.assertEqual(body["outcome"], "stolen")
            self.assertEqual(body["task"]["attempt"], 2)
            self.assertEqual(body["task"]["lease"]["holder"], "fast")
            self.assertEqual(body["task"]["assignee"], "fast")
            stolen.append(body["task"])
        before = self.d.snapshot()
        a, b, c = tasks
        self.assertProblem(self.d.post(self.path(a, "/heartbeat"),
                                       {"agent": "slow"}), 409, "lease_lost")
        self.assertProblem(self.d.post(self.path(b, "/complete"),
                                       {"agent": "slow", "attempt": 1,
                                        "result": {"late": True}}), 409,
                           "lease_lost")
        self.assertProblem(self.d.post(self.path(c, "/release"),
                                       {"agent": "slow"}), 409, "lease_lost")
        # Even claiming the old attempt's number does not help.
        self.assertProblem(self.d.post(self.path(b, "/complete"),
                                       {"agent": "fast", "attempt": 1}), 409,
                           "lease_lost")
        self.unchanged(before, "the replaced holder's calls")
        # The new holder finishes normally.
        r = self.d.post(self.path(b, "/complete"), {"agent": "fast",
                                                    "attempt": 2,
                                                    "result": {"n": 1}})
        u = self.assertStatus(r, 200)
        self.assertEqual(u["status"], "done")
        self.assertEqual(u["result"], {"n": 1})


class DependencyTest(TaskTestBase):

    def test_add_and_remove(self):
        a = self.d.create_task(title="dep a")
        b = self.d.create_task(title="dep b")
        r = self.d.post(self.path(b, "/deps"), {"depends_on": a["id"]})
        u = self.assertStatus(r, 200)
        self.assertEqual(u["depends_on"], [a["id"]])
        self.assertIs(u["ready"], False)
        self.assertEqual(u["version"], 2)
        self.assertEqual(self.d.get_task(b["id"])["depends_on"], [a["id"]])
        r = self.d.delete(self.path(b, "/deps/%d" % a["id"]))
        u = self.assertStatus(r, 200)
        self.assertEqual(u["depends_on"], [])
        self.assertIs(u["ready"], True)
        before = self.d.snapshot()
        r = self.d.delete(self.path(b, "/deps/%d" % a["id"]))
        self.assertProblem(r, 404, "not_a_dependency")
        self.unchanged(before, "removing a missing dependency")

    def test_dependency_done_makes_ready(self):
        a = self.d.create_task(title="before")
        b = self.d.create_task(title="after", depends_on=[a["id"]])
        self.assertIs(self.d.get_task(b["id"])["ready"], False)
        self.assertStatus(self.claim(a, "w", 60), 200)
        self.assertStatus(self.d.post(self.path(a, "/complete"),
                                      {"agent": "w"}), 200)
        self.assertIs(self.d.get_task(b["id"])["ready"], True)
        self.assertEqual(self.assertStatus(self.claim(b, "w", 60),
                                           200)["outcome"], "claimed")

    def test_cycles_are_refused(self):
        a = self.d.create_task(title="cycle a")
        b = self.d.create_task(title="cycle b")
        c = self.d.create_task(title="cycle c")
        self.assertStatus(self.d.post(self.path(a, "/deps"),
                                      {"depends_on": b["id"]}), 200)
        self.assertStatus(self.d.post(self.path(b, "/deps"),
                                      {"depends_on": c["id"]}), 200)
        before = self.d.snapshot()
        r = self.d.post(self.path(c, "/deps"), {"depends_on": a["id"]})
        self.assertProblem(r, 409, "dependency_cycle")
        r = self.d.post(self.path(b, "/deps"), {"depends_on": a["id"]})
        self.assertProblem(r, 409, "dependency_cycle")
        r = self.d.post(self.path(a, "/deps"), {"depends_on": a["id"]})
        self.assertProblem(r, 409, "dependency_cycle")
        self.unchanged(before, "refused cycles")

    def test_bad_dependencies(self):
        a = self.d.create_task(title="lonely")
        before = self.d.snapshot()
        r = self.d.post(self.path(a, "/deps"), {"depends_on": 987654})
        self.assertProblem(r, 422, "dependency_not_found")
        r = self.d.post(self.path(987654, "/deps"), {"depends_on": a["id"]})
        self.assertProblem(r, 404, "task_not_found")
        p = self.assertProblem(self.d.post(self.path(a, "/deps"), {}), 400,
                               "missing_argument")
        self.assertEqual(p.get("argument"), "depends_on")
        self.assertProblem(self.d.post(self.path(a, "/deps"),
                                       {"depends_on": "1"}), 400,
                           "invalid_argument")
        self.assertProblem(self.d.post(self.path(a, "/deps"),
                                       {"depends_on": 0}), 400,
                           "invalid_argument")
        r = self.d.post("/api/v1/tasks", {"title": "self",
                                          "depends_on": [987654]})
        self.assertProblem(r, 422, "dependency_not_found")
        self.unchanged(before, "bad dependencies")


class ConcurrencyTest(TaskTestBase):
    """Claims and versioned updates are compare-and-set: racing clients
    never both win."""

    def race(self, n, fn):
        """Runs fn(i) in n threads released together; returns results."""
        results = [None] * n
        gate = threading.Barrier(n)

        def run(i):
            gate.wait(30)
            results[i] = fn(i)

        threads = [threading.Thread(target=run, args=(i,))
                   for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        return results

    def test_racing_claims_of_one_task(self):
        t = self.d.create_task(title="contested")
        results = self.race(8, lambda i: self.claim(t, "racer-%d" % i, 60))
        won = [r for r in results if r.status == 200]
        lost = [r for r in results if r.status == 409]
        self.assertEqual(len(won), 1, results)
        self.assertEqual(len(lost), 7, results)
        self.assertEqual(won[0].body["outcome"], "claimed")
        for r in lost:
            self.assertEqual(r.body.get("outcome"), "denied")
        final = self.d.get_task(t["id"])
        self.assertEqual(final["attempt"], 1)
        self.assertEqual(final["lease"]["holder"],
                         won[0].body["task"]["lease"]["holder"])

    def test_racing_claim_next_hands_out_each_task_once(self):
        d = self.daemon(["--reap-interval", "3600"])
        created = {d.create_task(title="job %d" % i)["id"]
                   for i in range(20)}

        def worker(i):
            got = []
            while True:
                r = d.post("/api/v1/tasks/claim",
                           {"agent": "worker-%d" % i, "lease_seconds": 60})
                if r.status == 404:
                    return got
                if r.status != 200:
                    return got + [("error", r)]
                got.append(r.body["task"]["id"])

        results = self.race(6, worker)
        claimed = [x for got in results for x in got]
        self.assertEqual(len(claimed), len(set(claimed)),
                         "a task was handed out twice: %r" % results)
        self.assertEqual(set(claimed), created)

    def test_racing_updates_with_one_version(self):
        t = self.d.create_task(title="edited")
        results = self.race(6, lambda i: self.d.patch(
            self.path(t), {"version": 1, "title": "edit %d" % i}))
        won = [r for r in results if r.status == 200]
        self.assertEqual(len(won), 1, results)
        for r in results:
            if r.status != 200:
                self.assertProblem(r, 409, "version_conflict")
        final = self.d.get_task(t["id"])
        self.assertEqual(final["version"], 2)
        self.assertEqual(final["title"], won[0].body["title"])


class ReaperTest(DaemonTestCase):

    def test_reaper_returns_expired_leases(self):
        d = self.daemon(["--reap-interval", "1"])
        t = d.create_task(title="abandoned")
        r = d.post("/api/v1/tasks/%d/claim" % t["id"],
                   {"agent": "ghost", "lease_seconds": 1})
        c = self.assertStatus(r, 200)["task"]

        def back():
            g = d.get_task(t["id"])
            return g if g["status"] == "todo" else None

        # Typically ~2 s; generous for sanitizer builds.
        u = wait_until(back, timeout=15, interval=0.2)
        self.assertTrue(u, "the reaper did not return the task: %r"
                        % d.get_task(t["id"]))
        self.assertIsNone(u["lease"])
        self.assertIsNone(u["assignee"])
        self.assertIs(u["ready"], True)
        self.assertEqual(u["attempt"], 1)
        self.assertGreater(u["version"], c["version"])
        d.wait_for_log(r"reaper: returned 1 expired lease")
        # The ghost cannot finish it; someone else can claim it anew.
        r = d.post("/api/v1/tasks/%d/complete" % t["id"], {"agent": "ghost"})
        self.assertProblem(r, 409, "lease_lost")
        r = d.post("/api/v1/tasks/%d/claim" % t["id"], {"agent": "alive"})
        body = self.assertStatus(r, 200)
        self.assertEqual(body["outcome"], "claimed")
        self.assertEqual(body["task"]["attempt"], 2)
        d.stop()


if __name__ == "__main__":
    colibri_test.main()
