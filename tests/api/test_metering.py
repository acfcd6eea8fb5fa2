"""Metering through a real colibrid: usage read from every pi transcript
of tests/fixtures/pi posted to POST /api/v1/agents/{id}/events (each model
call counted once), metering.summary by agent, model, session and day with
costs from --price (and the reported cost for models without one), the
since/until/agent/model filters, metering.record and its refusals (which
change nothing), metering.list paging, the /metrics lines (also after a
restart), metering events on the SSE stream, and a bad --price refused at
start."""

import json
import math
import os
import sqlite3
from urllib.parse import quote

import colibri_test
from colibri_test import DaemonTestCase, SharedDaemonTestCase, run_colibrid
from test_events import SSEClient

FIXTURES = os.path.join(colibri_test.srcdir(), "tests", "fixtures", "pi")
FIXTURE_FILES = sorted(f for f in os.listdir(FIXTURES)
                       if f.endswith(".jsonl"))
TIME_RE = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$"

# USD per million tokens: input, output, cache read, cache write.  The
# mock models "text", "tool" and "gate" are priced (at what pi's own cost
# breakdown implies); "retry" and "length" are not, so their cost is what
# pi reported.
PRICES = {"text": (3, 15, 0.3, 3.75), "tool": (3, 15, 0.3, 3.75),
          "gate": (2, 8, 0.2, 2.5)}
PRICE_ARGS = []
for _m, _p in sorted(PRICES.items()):
    PRICE_ARGS += ["--price", "%s=%s" % (_m, ",".join(str(x) for x in _p))]

ROW_KEYS = {"id", "time", "agent", "session_id", "source", "provider",
            "model", "input_tokens", "output_tokens", "cache_read_tokens",
            "cache_write_tokens", "cost", "prefix_drift"}
SUM_KEYS = {"calls", "input_tokens", "output_tokens", "cache_read_tokens",
            "cache_write_tokens", "hit_ratio", "cost", "uncached_cost",
            "saving", "prefix_drift"}


def usd(x):
    """What the API reports: USD rounded half away from zero to 1e-9."""
    if x is None:
        return None
    return math.copysign(math.floor(abs(x) * 1e9 + 0.5), x) / 1e9


def fixture_calls(name):
    """The model calls of a fixture, read the way the contract says: the
    usage of each assistant message_end (pi repeats the message in
    turn_end and agent_end); all-zero usage is no call."""
    calls = []
    with open(os.path.join(FIXTURES, name), encoding="utf-8") as f:
        for line in f:
            ev = json.loads(line)
            msg = ev.get("message")
            if ev.get("type") != "message_end" or not isinstance(msg, dict) \
                    or msg.get("role") != "assistant":
                continue
            u = msg["usage"]
            if not (u["input"] or u["output"] or u["cacheRead"]
                    or u["cacheWrite"] or u["cost"]["total"]):
                continue
            calls.append({"model": msg["model"], "time": msg["timestamp"],
                          "input": u["input"], "output": u["output"],
                          "cache_read": u["cacheRead"],
                          "cache_write": u["cacheWrite"],
                          "cost": u["cost"]["total"]})
    return calls


def expected_sums(calls):
    """The summary fields for calls, by the documented formulas."""
    t = {k: sum(c[k] for c in calls) for k in
         ("input", "output", "cache_read", "cache_write")}
    cost, uncached, known, all_priced = 0.0, 0.0, False, True
    by_model = {}
    for c in calls:
        by_model.setdefault(c["model"], []).append(c)
    for model, cs in sorted(by_model.items()):
        mt = {k: sum(c[k] for c in cs) for k in t}
        p = PRICES.get(model)
        if p:
            cost += (mt["input"] * p[0] + mt["output"] * p[1] +
                     mt["cache_read"] * p[2] + mt["cache_write"] * p[3]) / 1e6
            uncached += ((mt["input"] + mt["cache_read"] +
                          mt["cache_write"]) * p[0] + mt["output"] * p[1]) / 1e6
            known = True
        else:
            all_priced = False
            cost += sum(c["cost"] for c in cs)
            known = True
    prompt = t["input"] + t["cache_read"] + t["cache_write"]
    return {
        "calls": len(calls),
        "input_tokens": t["input"], "output_tokens": t["output"],
        "cache_read_tokens": t["cache_read"],
        "cache_write_tokens": t["cache_write"],
        "hit_ratio": t["cache_read"] / prompt if prompt else None,
        "cost": usd(cost) if known else None,
        "uncached_cost": usd(uncached) if all_priced and calls else None,
        "saving": usd(uncached - cost) if all_priced and calls else None,
        "prefix_drift": 0,
    }


def day(ms):
    import datetime
    return datetime.datetime.fromtimestamp(
        ms / 1000, datetime.timezone.utc).strftime("%Y-%m-%d")


def rfc3339(ms):
    import datetime
    return datetime.datetime.fromtimestamp(
        ms / 1000, datetime.timezone.utc).strftime(
            "%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (ms % 1000)


class MeteringBase:
    def register(self, agent, d=None):
        d = d or self.d
        r = d.post("/api/v1/agents", {"id": agent, "kind": "pi"})
        return self.assertStatus(r, 201, "register %s" % agent)

    def ingest_file(self, agent, name, d=None):
        d = d or self.d
        with open(os.path.join(FIXTURES, name), "rb") as f:
            body = f.read()
        r = d.post("/api/v1/agents/%s/events" % quote(agent), raw_body=body,
                   content_type="application/x-ndjson")
        return self.assertStatus(r, 200, "ingest %s" % name)

    def summary(self, query, d=None):
        d = d or self.d
        doc = self.assertStatus(
            d.get("/api/v1/metering/summary?" + query), 200, query)
        self.assertEqual(set(doc), {"group_by", "items", "total",
                                    "truncated"})
        for it in doc["items"]:
            self.assertEqual(set(it), SUM_KEYS | {"key"})
        self.assertEqual(set(doc["total"]), SUM_KEYS)
        return doc

    def assertSums(self, got, want, what):
        for k, v in want.items():
            if isinstance(v, float) and k == "hit_ratio":
                self.assertAlmostEqual(got[k], v, places=12,
                                       msg="%s %s" % (what, k))
            else:
                self.assertEqual(got[k], v, "%s %s: %r" % (what, k, got))

    def rows(self, query, d=None):
        d = d or self.d
        out, after = [], None
        while True:
            q = query + ("&after=%s" % after if after else "")
            page = self.assertStatus(d.get("/api/v1/metering?" + q), 200)
            out += page["items"]
            after = page["next"]
            if after is None:
                return out

    def record(self, body, status=201, d=None):
        d = d or self.d
        r = d.post("/api/v1/metering", body)
        if status != 201:
            return r
        return self.assertStatus(r, 201, "record %r" % (body,))


class MeteringTests(MeteringBase, SharedDaemonTestCase):
    daemon_args = PRICE_ARGS

    def test_fixtures_summary_by_agent(self):
        """Every transcript, one agent each: the summary by agent is the
        fixture's usage, each call once, at the configured prices."""
        agents = {}
        for name in FIXTURE_FILES:
            agent = "fx-" + name[:-len(".jsonl")].replace("_", "-")
            self.register(agent)
            self.ingest_file(agent, name)
            agents[agent] = fixture_calls(name)
        for agent, calls in agents.items():
            doc = self.summary("group_by=agent&agent=" + agent)
            self.assertEqual(doc["group_by"], "agent")
            if not calls:
                self.assertEqual(doc["items"], [], agent)
                self.assertEqual(doc["total"]["calls"], 0)
                self.assertIsNone(doc["total"]["cost"])
                continue
            self.assertEqual(len(doc["items"]), 1, agent)
            self.assertEqual(doc["items"][0]["key"], agent)
            want = expected_sums(calls)
            self.assertSums(doc["items"][0], want, agent)
            self.assertSums(doc["total"], want, agent + " total")
            # The stored rows are the calls themselves.
            rows = self.rows("agent=" + agent)
            self.assertEqual(len(rows), len(calls))
            for row, c in zip(reversed(rows), calls):
                self.assertEqual(set(row), ROW_KEYS)
                self.assertEqual(row["source"], "stream")
                self.assertEqual(row["provider"], "mock")
                self.assertEqual(row["model"], c["model"])
                self.assertEqual(row["time"], rfc3339(c["time"]))
                self.assertEqual(row["input_tokens"], c["input"])
                self.assertEqual(row["output_tokens"], c["output"])
                self.assertEqual(row["cache_read_tokens"], c["cache_read"])
                self.assertEqual(row["cache_write_tokens"],
                                 c["cache_write"])
                self.assertEqual(row["cost"], c["cost"])
                self.assertEqual(row["prefix_drift"], 0)
                self.assertIsNone(row["session_id"])
        # Known numbers, by hand: tool.jsonl's two calls at 3/15/0.3/3.75.
        tool = self.summary("group_by=agent&agent=fx-tool")["items"][0]
        self.assertEqual(tool["calls"], 2)
        self.assertEqual(tool["cost"], 0.00609)
        self.assertEqual(tool["uncached_cost"], 0.01227)
        self.assertEqual(tool["saving"], 0.00618)
        self.assertAlmostEqual(tool["hit_ratio"], 2400 / 3900, places=12)

    def test_fixture_by_model_session_day(self):
        """One agent with several models (the rpc transcript): grouped by
        model, session (none: posted events open no session) and day."""
        agent = "rpc-groups"
        self.register(agent)
        self.ingest_file(agent, "rpc_confirm_gate.jsonl")
        calls = fixture_calls("rpc_confirm_gate.jsonl")
        self.assertEqual(len(calls), 8)
        doc = self.summary("group_by=model&agent=" + agent)
        models = sorted({c["model"] for c in calls})
        self.assertEqual([it["key"] for it in doc["items"]], models)
        for it in doc["items"]:
            self.assertSums(it, expected_sums(
                [c for c in calls if c["model"] == it["key"]]), it["key"])
        self.assertSums(doc["total"], expected_sums(calls), "total")
        # "retry" has no price: its cost is pi's, with no uncached cost,
        # and the total cannot claim one either.
        retry = [it for it in doc["items"] if it["key"] == "retry"][0]
        self.assertEqual(retry["cost"], usd(0.0013128))
        self.assertIsNone(retry["uncached_cost"])
        self.assertIsNone(doc["total"]["saving"])
        gate = [it for it in doc["items"] if it["key"] == "gate"][0]
        # 2 x (600, 24, 800, 400) + 2 x (500, 14, 1600, 0) at 2/8/0.2/2.5
        self.assertEqual(gate["cost"], usd((2200 * 2 + 76 * 8 + 4800 * 0.2
                                            + 800 * 2.5) / 1e6))
        self.assertEqual(gate["cost"], 0.007968)

        doc = self.summary("group_by=session&agent=" + agent)
        self.assertEqual(len(doc["items"]), 1)
        self.assertIsNone(doc["items"][0]["key"])
        self.assertSums(doc["items"][0], expected_sums(calls), "session")

        doc = self.summary("group_by=day&agent=" + agent)
        days = sorted({day(c["time"]) for c in calls})
        self.assertEqual([it["key"] for it in doc["items"]], days)
        self.assertSums(doc["items"][0], expected_sums(calls), "day")

        # since/until (until exclusive) and the model filter.
        t4 = calls[4]["time"]
        doc = self.summary("group_by=agent&agent=%s&since=%s" %
                           (agent, rfc3339(t4)))
        self.assertSums(doc["total"], expected_sums(calls[4:]), "since")
        doc = self.summary("group_by=agent&agent=%s&until=%s" %
                           (agent, rfc3339(t4)))
        self.assertSums(doc["total"], expected_sums(calls[:4]), "until")
        doc = self.summary("group_by=agent&agent=%s&model=gate" % agent)
        self.assertSums(doc["total"], expected_sums(
            [c for c in calls if c["model"] == "gate"]), "model")
        doc = self.summary("group_by=model&agent=%s&limit=2" % agent)
        self.assertEqual(len(doc["items"]), 2)
        self.assertIs(doc["truncated"], True)
        self.assertSums(doc["total"], expected_sums(calls), "limited")

    def test_json_array_ingest_counts_once(self):
        """The same events as a JSON array body, posted twice in halves
        that split a message from its turn_end/agent_end repeats."""
        agent = "array-once"
        self.register(agent)
        with open(os.path.join(FIXTURES, "tool.jsonl"),
                  encoding="utf-8") as f:
            events = [json.loads(line) for line in f]
        for part in (events[:20], events[20:]):
            r = self.d.post("/api/v1/agents/%s/events" % agent, part)
            self.assertStatus(r, 200)
        doc = self.summary("group_by=agent&agent=" + agent)
        self.assertSums(doc["total"], expected_sums(
            fixture_calls("tool.jsonl")), agent)

    def test_record_and_refusals(self):
        good = {"provider": "deepseek", "model": "rec-model",
                "agent": "rec-agent", "input_tokens": 232,
                "output_tokens": 50, "cache_read_tokens": 768,
                "cache_write_tokens": 0, "cost": 0.000123}
        row = self.record(dict(good, source="probe"))
        self.assertEqual(set(row), ROW_KEYS)
        self.assertEqual(row["source"], "probe")
        self.assertEqual(row["agent"], "rec-agent")
        self.assertIsNone(row["session_id"])
        self.assertEqual(row["cost"], 0.000123)
        self.assertRegex(row["time"], TIME_RE)
        row2 = self.record({k: v for k, v in good.items() if k != "cost"})
        self.assertEqual(row2["source"], "api")
        self.assertIsNone(row2["cost"])
        self.assertGreater(row2["id"], row["id"])
        row3 = self.record(dict(good, cost=None, prefix_drift=True))
        self.assertEqual(row3["prefix_drift"], 1)

        before = self.rows("model=rec-model")
        # What the store reads back is what the answers said.
        self.assertEqual(before, [row3, row2, row])
        bad = [
            ({k: v for k, v in good.items() if k != "provider"}, 400,
             "missing_argument"),
            ({k: v for k, v in good.items() if k != "input_tokens"}, 400,
             "missing_argument"),
            (dict(good, input_tokens=-1), 400, "invalid_argument"),
            (dict(good, output_tokens="5"), 400, "invalid_argument"),
            (dict(good, cache_read_tokens=1.5), 400, "invalid_argument"),
            (dict(good, source="stream"), 400, "invalid_argument"),
            (dict(good, agent="no spaces"), 400, "invalid_argument"),
            (dict(good, model=""), 400, "invalid_argument"),
            (dict(good, model="m" * 129), 400, "invalid_argument"),
            (dict(good, colour="red"), 400, "unknown_argument"),
            (dict(good, cost="cheap"), 422, "invalid_cost"),
            (dict(good, cost=-0.5), 422, "invalid_cost"),
            (dict(good, session=999999), 422, "unknown_session"),
        ]
        for body, status, code in bad:
            r = self.record(body, status=status)
            self.assertProblem(r, status, code, json.dumps(body))
        self.assertEqual(self.rows("model=rec-model"), before)
        doc = self.summary("group_by=model&model=rec-model")
        self.assertEqual(doc["total"]["calls"], 3)
        self.assertEqual(doc["total"]["prefix_drift"], 1)
        # No price for rec-model: the reported cost, and no saving.
        self.assertEqual(doc["total"]["cost"], 0.000123)
        self.assertIsNone(doc["total"]["saving"])
        self.assertEqual(doc["total"]["hit_ratio"], 768 * 3 / (1000 * 3))

    def test_summary_and_list_refusals(self):
        for q, status, code in [
                ("", 400, "missing_argument"),
                ("group_by=week", 400, "invalid_argument"),
                ("group_by=day&since=2026-11-2x", 422, "invalid_time"),
                ("group_by=day&since=yesterday", 400, "invalid_argument"),
                ("group_by=day&until=2026-13-01", 422, "invalid_time"),
                ("group_by=day&since=2026-01-02&until=2026-01-01", 422,
                 "invalid_time_range"),
                ("group_by=day&limit=0", 400, "invalid_argument")]:
            self.assertProblem(self.d.get("/api/v1/metering/summary?" + q),
                               status, code, q)
        self.assertProblem(self.d.get("/api/v1/metering?after=x"), 422,
                           "invalid_cursor")
        self.assertProblem(self.d.get("/api/v1/metering?session=0"), 400,
                           "invalid_argument")

    def test_list_pages(self):
        ids = []
        for i in range(5):
            ids.append(self.record({
                "provider": "p", "model": "page-model", "input_tokens": i,
                "output_tokens": 0, "cache_read_tokens": 0,
                "cache_write_tokens": 0})["id"])
        page = self.assertStatus(
            self.d.get("/api/v1/metering?model=page-model&limit=2"), 200)
        self.assertEqual([r["id"] for r in page["items"]], ids[:-3:-1])
        self.assertEqual(page["next"], str(ids[3]))
        self.assertEqual([r["id"] for r in self.rows("model=page-model&"
                                                      "limit=2")],
                         ids[::-1])

    def test_metrics(self):
        self.record({"provider": "p", "model": "metric \"m\"",
                     "input_tokens": 100, "output_tokens": 7,
                     "cache_read_tokens": 300, "cache_write_tokens": 100,
                     "cost": 0.25})
        r = self.d.get("/metrics")
        self.assertEqual(r.status, 200)
        text = r.raw.decode("utf-8")
        lbl = 'model="metric \\"m\\""'
        for line in ('colibri_tokens_total{kind="input",%s} 100' % lbl,
                     'colibri_tokens_total{kind="output",%s} 7' % lbl,
                     'colibri_tokens_total{kind="cache_read",%s} 300' % lbl,
                     'colibri_tokens_total{kind="cache_write",%s} 100' % lbl,
                     'colibri_cost_usd_total{%s} 0.250000000' % lbl,
                     'colibri_cache_hit_ratio{%s} 0.600000' % lbl):
            self.assertIn(line + "\n", text)
        self.assertIn("# TYPE colibri_tokens_total counter\n", text)
        self.assertIn("# TYPE colibri_cache_hit_ratio gauge\n", text)

    def test_metering_events(self):
        agent = "ev-agent"
        self.register(agent)
        sse = SSEClient(self.d, "?types=metering&agent=" + agent)
        try:
            self.ingest_file(agent, "tool.jsonl")
            row = self.record({"provider": "p", "model": "ev-model",
                               "agent": agent, "input_tokens": 1,
                               "output_tokens": 2, "cache_read_tokens": 3,
                               "cache_write_tokens": 4})
            evs = sse.next_events(3)
        finally:
            sse.close()
        docs = [e.json for e in evs]
        self.assertEqual([e.event for e in evs], ["metering"] * 3)
        self.assertEqual([d["data"]["input_tokens"] for d in docs],
                         [600, 500, 1])
        self.assertEqual(docs[2]["data"], row)
        self.assertEqual(docs[2]["subject"], "metering:%d" % row["id"])
        self.assertEqual({d["agent"] for d in docs}, {agent})


class MeteringRestartTests(MeteringBase, DaemonTestCase):
    def test_metrics_survive_restart_and_prices_apply(self):
        d = self.daemon(PRICE_ARGS)
        self.register("pi-r", d)
        self.ingest_file("pi-r", "text.jsonl", d)
        d.restart()
        text = d.get("/metrics").raw.decode("utf-8")
        self.assertIn('colibri_tokens_total{kind="cache_read",model="text"}'
                      ' 1536\n', text)
        # 264*3 + 6*15 + 1536*0.3 = 1342.8 -> 0.0013428 USD
        self.assertIn('colibri_cost_usd_total{model="text"} 0.001342800\n',
                      text)
        # The schema has the table the contract names.
        con = sqlite3.connect("file:%s?mode=ro" % d.db_path, uri=True)
        try:
            cols = [r[1] for r in con.execute("PRAGMA table_info(metering)")]
        finally:
            con.close()
        self.assertEqual(cols, [
            "id", "time", "agent", "session_id", "source", "provider",
            "model", "input_tokens", "output_tokens", "cache_read_tokens",
            "cache_write_tokens", "cost", "prefix_drift"])

    def test_old_calls_pruned_totals_kept(self):
        """--metering-max-age-days: the reaper deletes calls older than
        that (here two made 3 days old in the database), keeps the recent
        one, and the /metrics totals do not go back."""
        d = self.daemon(["--metering-max-age-days", "2"])
        for i in range(3):
            self.record({"provider": "p", "model": "aged", "agent": "old-a",
                         "input_tokens": 10, "output_tokens": 1,
                         "cache_read_tokens": 30, "cache_write_tokens": 0},
                        d=d)
        metrics = d.get("/metrics").raw.decode("utf-8")
        d.stop()
        con = sqlite3.connect(d.db_path)
        try:
            with con:
                con.execute("UPDATE metering SET time = time - 3 * 86400000"
                            " WHERE id IN (SELECT id FROM metering"
                            " WHERE model = 'aged' ORDER BY id LIMIT 2)")
        finally:
            con.close()
        d.restart()

        def calls():
            s = self.assertStatus(d.get(
                "/api/v1/metering/summary?group_by=model&model=aged"), 200)
            return s["total"]["calls"]
        self.assertTrue(colibri_test.wait_until(lambda: calls() == 1, 10),
                        "old calls not pruned: %d" % calls())
        after = d.get("/metrics").raw.decode("utf-8")
        for line in metrics.splitlines():
            if 'model="aged"' in line:
                self.assertIn(line, after.splitlines())

    def test_spawned_agent_calls_land_in_its_session(self):
        """An agent the spawner runs has an open session while it streams:
        its calls are metered into that session."""
        d = self.daemon(["--price", "smoke-1=1,2,0.5,1.5"])
        r = d.post("/api/v1/agents/spawn", {"runner": "smoke", "id": "sm-1",
                                            "args": ["--scenario", "ok",
                                                     "--delay-ms", "0"]})
        self.assertStatus(r, 202)
        rows = colibri_test.wait_until(lambda: self.rows("agent=sm-1", d))
        self.assertEqual(len(rows), 1, rows)
        row = rows[0]
        self.assertEqual((row["source"], row["provider"], row["model"]),
                         ("stream", "smoke", "smoke-1"))
        self.assertEqual((row["input_tokens"], row["output_tokens"],
                          row["cache_read_tokens"],
                          row["cache_write_tokens"]), (120, 8, 96, 24))
        self.assertIsInstance(row["session_id"], int)
        r = d.get("/api/v1/sessions?agent=sm-1")
        if r.status == 200:     # the sessions operations are there
            self.assertEqual([s["id"] for s in r.body["items"]],
                             [row["session_id"]])
        doc = self.summary("group_by=session&agent=sm-1", d)
        self.assertEqual([it["key"] for it in doc["items"]],
                         [row["session_id"]])
        # 120*1 + 8*2 + 96*0.5 + 24*1.5 = 220 -> 0.00022 USD
        self.assertEqual(doc["total"]["cost"], 0.00022)
        self.assertEqual(doc["total"]["uncached_cost"], 0.000256)

    def test_bad_price_refused(self):
        for spec in ("text", "text=1,2,3", "text=1,2,3,x", "=1,2,3,4"):
            p = run_colibrid(["--price", spec, "--check-config"])
            self.assertNotEqual(p.returncode, 0, spec)
            self.assertIn("--price", p.stderr, spec)
        p = run_colibrid(["--price", "a=1,2,3,4", "--print-config"])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("price = a=1,2,3,4\n", p.stdout)
        p = run_colibrid(["--print-config"],
                         env={"COLIBRI_PRICE": "a=1,2,3,4;*=0.5,1,0,0"})
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("price = a=1,2,3,4\nprice = *=0.5,1,0,0\n", p.stdout)


if __name__ == "__main__":
    colibri_test.main()
