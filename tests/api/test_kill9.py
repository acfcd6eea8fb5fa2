"""Durability: an acknowledged write survives SIGKILL of the daemon.

Eight writer threads create tasks as fast as they can with the daemon's
default durability (full); while they are writing, the daemon is killed
with SIGKILL.  After a restart on the same data directory every task whose
201 reached a writer must exist, with the id the 201 announced."""

import sqlite3
import sys
import threading
import time

import colibri_test
from colibri_test import DaemonTestCase

WRITERS = 8
WRITE_SECONDS = 1.5
ROUNDS = 2


class Kill9Test(DaemonTestCase):

    def write_until_killed(self, d, round_no):
        """Runs the writers, kills the daemon mid-stream; returns
        {title: id} of every acknowledged create and the error count."""
        acked = {}
        lock = threading.Lock()
        stop = threading.Event()
        errors = []
        unexpected = []

        def writer(n):
            i = 0
            while not stop.is_set():
                title = "r%d-w%d-%06d" % (round_no, n, i)
                i += 1
                try:
                    r = d.request("POST", "/api/v1/tasks",
                                  body={"title": title, "labels": ["kill9"]},
                                  timeout=30)
                except OSError as e:           # killed: reset, refused...
                    errors.append(repr(e))
                    return
                except Exception as e:         # http.client oddities
                    errors.append(repr(e))
                    return
                if r.status == 201:
                    with lock:
                        acked[title] = r.body["id"]
                elif r.status >= 500:
                    # e.g. 503 while stopping; not acknowledged.
                    continue
                else:
                    unexpected.append(r)
                    return

        threads = [threading.Thread(target=writer, args=(n,), daemon=True)
                   for n in range(WRITERS)]
        for t in threads:
            t.start()
        time.sleep(WRITE_SECONDS)
        with lock:
            in_flight = len(acked)
        d.kill9()
        stop.set()
        for t in threads:
            t.join(60)
            self.assertFalse(t.is_alive(), "a writer thread hangs")
        self.assertEqual(unexpected, [], "unexpected answers")
        self.assertGreater(in_flight, 0, "no write finished before the "
                           "kill; errors: %r" % errors[:5])
        return acked, errors

    def test_acknowledged_writes_survive_sigkill(self):
        # durability=None: the daemon's default, which must be full.
        d = self.daemon(durability=None)
        self.assertIn("durability full", d.run_log())
        all_acked = {}
        for round_no in range(ROUNDS):
            with self.subTest(round=round_no):
                acked, errors = self.write_until_killed(d, round_no)
                self.assertGreater(len(acked), 50,
                                   "too few acknowledged writes to mean "
                                   "anything (%d); errors: %r"
                                   % (len(acked), errors[:5]))
                sys.stderr.write("round %d: %d writes acknowledged before "
                                 "SIGKILL\n" % (round_no, len(acked)))
                all_acked.update(acked)
                self.assertEqual(len(set(all_acked.values())),
                                 len(all_acked), "an id was given twice")

                d.start()
                r = d.get("/api/v1/health", token=False)
                self.assertEqual(r.status, 200, repr(r))
                self.assertEqual(r.body.get("status"), "ok")

                stored = {t["title"]: t["id"] for t in d.list_all(
                    "label=kill9", limit=1000)}
                missing = {t: i for t, i in all_acked.items()
                           if t not in stored}
                self.assertEqual(missing, {}, "%d acknowledged writes lost"
                                 % len(missing))
                wrong = {t: (i, stored[t]) for t, i in all_acked.items()
                         if stored[t] != i}
                self.assertEqual(wrong, {}, "acknowledged ids changed")
                # Nothing was stored twice under one title.
                titles = [t["title"] for t in d.list_all("label=kill9")]
                self.assertEqual(len(titles), len(set(titles)))

        # The database is intact and still takes writes.
        t = d.create_task(title="after the storm")
        self.assertGreater(t["id"], max(all_acked.values()))
        con = sqlite3.connect("file:%s?mode=ro" % d.db_path, uri=True,
                              timeout=30)
        try:
            self.assertEqual(con.execute("PRAGMA quick_check").fetchone(),
                             ("ok",))
        finally:
            con.close()
        d.stop()


if __name__ == "__main__":
    colibri_test.main()
