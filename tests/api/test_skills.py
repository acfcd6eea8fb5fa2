"""Every skill operation of colibrid over real HTTP: skill.list (valid and
invalid, cursor), skill.search (ranking, snippets, hostile queries),
skill.get, skill.file (text, binary, path escapes), skill.put (create,
replace, validation, path escapes) and skill.rescan; and the skills-path
option from the command line, the environment and the config file."""

import base64
import os
import shutil
import tempfile
import urllib.parse

import colibri_test
from colibri_test import Daemon, DaemonTestCase


def write(root, rel, text):
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if isinstance(text, bytes):
        with open(path, "wb") as f:
            f.write(text)
    else:
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
    return path


def skill_md(name, description, body="", extra=""):
    return "---\nname: %s\ndescription: %s\n%s---\n%s" % (
        name, description, extra, body)


def names(items):
    return [i["name"] for i in items]


class SkillsBase(DaemonTestCase):
    """One daemon over two roots, r1 first:

    r1: pdf-tools (name says pdf), doc-reader (description says PDF),
        notes (body says pdf), broken (no description), no-md (no
        SKILL.md), files-demo (text, binary, nested, links in and out)
    r2: pdf-tools again (a duplicate), web-search
    """

    @classmethod
    def setUpClass(cls):
        cls.tree = tempfile.mkdtemp(prefix="colibri-skills-")
        cls.r1 = os.path.join(cls.tree, "r1")
        cls.r2 = os.path.join(cls.tree, "r2")
        r1, r2 = cls.r1, cls.r2
        write(r1, "pdf-tools/SKILL.md", skill_md(
            "pdf-tools", "Work with documents.", "Merge and split files.\n",
            "license: MIT\nmetadata:\n  author: me\n"
            "allowed-tools: Read Bash\n"))
        write(r1, "doc-reader/SKILL.md", skill_md(
            "doc-reader", "Read PDF documents and scanned pages.",
            "Open the file.\n"))
        write(r1, "notes/SKILL.md", skill_md(
            "notes", "Keep notes in markdown.",
            "Notes may link to a pdf; <b>bold</b> & more.\n"))
        write(r1, "broken/SKILL.md", "---\nname: broken\n---\nbody\n")
        write(r1, "no-md/readme.txt", "not a skill file\n")
        write(r1, "files-demo/SKILL.md", skill_md(
            "files-demo", "A skill with files.", "See the files.\n"))
        write(r1, "files-demo/scripts/run.sh", "#!/bin/sh\necho hi\n")
        write(r1, "files-demo/data.bin", b"\x00\x01\xfe\xff")
        write(r1, "files-demo/unicode.txt", "caf\u00e9 \u2014 \u65e5\u672c\n")
        write(cls.tree, "secret.txt", "top secret\n")
        os.symlink(os.path.join(cls.tree, "secret.txt"),
                   os.path.join(r1, "files-demo", "out-link"))
        os.symlink("scripts/run.sh",
                   os.path.join(r1, "files-demo", "in-link"))
        os.symlink(cls.tree, os.path.join(r1, "files-demo", "out-dir"))
        write(r2, "pdf-tools/SKILL.md", skill_md(
            "pdf-tools", "The second pdf-tools.", ""))
        write(r2, "web-search/SKILL.md", skill_md(
            "web-search", "Search the web for pages.",
            "Use a search engine.\n"))
        cls.d = Daemon(["--skills-path", r1, "--skills-path", r2])

    @classmethod
    def tearDownClass(cls):
        try:
            cls.d.stop()
        finally:
            cls.d.cleanup()
            shutil.rmtree(cls.tree, ignore_errors=True)

    def setUp(self):
        super().setUp()
        self.assertTrue(self.d.running(), "the shared daemon died; log:\n"
                        + self.d.log())

    def put(self, name, body, **kw):
        return self.d.request("PUT", "/api/v1/skills/" + name, body=body,
                              **kw)


class ListTest(SkillsBase):

    def test_valid_skills_by_name(self):
        body = self.assertStatus(self.d.get("/api/v1/skills"), 200)
        self.assertEqual(names(body["items"]),
                         ["doc-reader", "files-demo", "notes", "pdf-tools",
                          "web-search"])
        self.assertIsNone(body["next"])
        pdf = body["items"][3]
        self.assertEqual(pdf, {"name": "pdf-tools",
                               "description": "Work with documents.",
                               "root": self.r1,
                               "path": os.path.join(self.r1, "pdf-tools")})
        self.assertEqual(body["items"][4]["root"], self.r2)

    def test_invalid_skills_with_reasons(self):
        body = self.assertStatus(self.d.get("/api/v1/skills?invalid=true"),
                                 200)
        by_path = {i["path"]: i for i in body["items"]}
        self.assertEqual(sorted(by_path), sorted([
            os.path.join(self.r1, "broken"), os.path.join(self.r1, "no-md"),
            os.path.join(self.r2, "pdf-tools")]))
        dup = by_path[os.path.join(self.r2, "pdf-tools")]
        self.assertEqual(dup["name"], "pdf-tools")
        self.assertEqual(dup["root"], self.r2)
        self.assertEqual(dup["reasons"], ["duplicate of %s" % os.path.join(
            self.r1, "pdf-tools")])
        self.assertEqual(by_path[os.path.join(self.r1, "broken")]["reasons"],
                         ["description is required"])
        self.assertEqual(by_path[os.path.join(self.r1, "no-md")]["reasons"],
                         ["no SKILL.md in the folder"])
        self.assertNotIn("name", by_path[os.path.join(self.r1, "no-md")])
        self.assertEqual(self.d.get("/api/v1/skills?invalid=false").body,
                         self.d.get("/api/v1/skills").body)

    def test_pages(self):
        seen, after = [], None
        for _ in range(10):
            q = "limit=2" + ("&after=" + urllib.parse.quote(after)
                             if after else "")
            body = self.assertStatus(self.d.get("/api/v1/skills?" + q), 200)
            self.assertLessEqual(len(body["items"]), 2)
            seen += names(body["items"])
            after = body["next"]
            if after is None:
                break
        self.assertEqual(seen, names(self.d.get("/api/v1/skills")
                                     .body["items"]))
        body = self.d.get("/api/v1/skills?invalid=true&limit=1").body
        self.assertEqual(len(body["items"]), 1)
        nxt = self.d.get("/api/v1/skills?invalid=true&limit=5&after="
                         + urllib.parse.quote(body["next"])).body
        self.assertEqual(len(nxt["items"]), 2)
        self.assertIsNone(nxt["next"])

    def test_bad_arguments(self):
        for q, arg in (("invalid=maybe", "invalid"), ("limit=0", "limit"),
                       ("limit=1001", "limit"), ("after=", "after")):
            with self.subTest(q=q):
                p = self.assertProblem(self.d.get("/api/v1/skills?" + q),
                                       400)
                self.assertEqual(p.get("argument"), arg)
        self.assertProblem(self.d.get("/api/v1/skills?bogus=1"), 400,
                           "unknown_argument")
        self.assertProblem(self.d.get("/api/v1/skills", token=False), 401,
                           "unauthorized")
        self.assertProblem(self.d.request("DELETE", "/api/v1/skills"), 405,
                           "method_not_allowed")


class SearchTest(SkillsBase):

    def search(self, q, extra=""):
        r = self.d.get("/api/v1/skills/search?q=" + urllib.parse.quote(q)
                       + extra)
        return self.assertStatus(r, 200, q)["items"]

    def test_ranking_name_description_body(self):
        items = self.search("pdf")
        self.assertEqual(names(items), ["pdf-tools", "doc-reader", "notes"])
        scores = [i["score"] for i in items]
        self.assertEqual(scores, sorted(scores, reverse=True))
        self.assertGreater(scores[-1], 0)
        self.assertEqual(items[0]["description"], "Work with documents.")
        self.assertEqual(set(items[0]), {"name", "description", "score",
                                         "snippet"})

    def test_snippets_are_escaped_and_marked(self):
        items = {i["name"]: i for i in self.search("pdf")}
        self.assertEqual(items["notes"]["snippet"],
                         "Notes may link to a <mark>pdf</mark>; "
                         "&lt;b&gt;bold&lt;/b&gt; &amp; more.\n")
        self.assertEqual(items["doc-reader"]["snippet"],
                         "Read <mark>PDF</mark> documents and scanned "
                         "pages.")

    def test_limit_and_or(self):
        self.assertEqual(names(self.search("pdf", "&limit=1")),
                         ["pdf-tools"])
        self.assertEqual(set(names(self.search("web notes"))),
                         {"web-search", "notes"})
        self.assertEqual(self.search("zzzzqqq"), [])

    def test_hostile_queries_are_just_words(self):
        for q in ('"', '"pdf', "pdf OR", "NOT", "NEAR(pdf web)", "name:pdf",
                  "pdf*", "*", "(pdf", "'; DROP TABLE skill; --", "\\",
                  "\u2014", "{name}", "pdf^2", "-pdf"):
            with self.subTest(q=q):
                self.assertIsInstance(self.search(q), list)
        self.assertEqual(self.search("!!! ... ***"), [])
        self.assertEqual(names(self.search('"pdf"')),
                         ["pdf-tools", "doc-reader", "notes"])

    def test_bad_queries(self):
        self.assertProblem(self.d.get("/api/v1/skills/search"), 400,
                           "missing_argument")
        for q in ("q=", "q=%20%20", "q=" + "x" * 257, "q=a&limit=0",
                  "q=a&limit=101",
                  "q=" + "+".join("w%d" % i for i in range(33))):
            with self.subTest(q=q[:40]):
                self.assertProblem(self.d.get("/api/v1/skills/search?" + q),
                                   400, "invalid_argument")
        self.assertProblem(self.d.post("/api/v1/skills/search"), 405,
                           "method_not_allowed")


class GetFileTest(SkillsBase):

    def file(self, name, path):
        return self.d.get("/api/v1/skills/%s/files/%s" % (name, path))

    def test_get(self):
        r = self.d.get("/api/v1/skills/pdf-tools")
        s = self.assertStatus(r, 200)
        self.assertEqual(s["name"], "pdf-tools")
        self.assertEqual(s["root"], self.r1)
        self.assertEqual(s["path"], os.path.join(self.r1, "pdf-tools"))
        self.assertEqual(s["front_matter"], {
            "name": "pdf-tools", "description": "Work with documents.",
            "license": "MIT", "metadata": {"author": "me"},
            "allowed-tools": "Read Bash"})
        self.assertEqual(s["body"], "Merge and split files.\n")
        self.assertEqual(s["files"], [{"path": "SKILL.md", "type": "file",
                                       "size": os.path.getsize(os.path.join(
                                           self.r1, "pdf-tools",
                                           "SKILL.md"))}])
        self.assertIs(s["files_truncated"], False)
        h = self.d.request("HEAD", "/api/v1/skills/pdf-tools")
        self.assertEqual(h.status, 200)

    def test_get_file_list(self):
        s = self.assertStatus(self.d.get("/api/v1/skills/files-demo"), 200)
        files = {f["path"]: f for f in s["files"]}
        self.assertEqual(sorted(files), ["SKILL.md", "data.bin", "in-link",
                                         "out-dir", "out-link",
                                         "scripts/run.sh", "unicode.txt"])
        self.assertEqual(files["out-dir"]["type"], "symlink")
        self.assertEqual(files["scripts/run.sh"]["type"], "file")
        self.assertEqual(files["data.bin"]["size"], 4)

    def test_get_missing(self):
        self.assertProblem(self.d.get("/api/v1/skills/nope"), 404,
                           "skill_not_found")
        # Invalid skills are not served.
        self.assertProblem(self.d.get("/api/v1/skills/broken"), 404,
                           "skill_not_found")
        self.assertProblem(self.d.get("/api/v1/skills/" + "a" * 65), 400,
                           "invalid_argument")

    def test_files(self):
        f = self.assertStatus(self.file("files-demo", "scripts/run.sh"), 200)
        self.assertEqual(f, {"name": "files-demo", "path": "scripts/run.sh",
                             "size": 18, "content": "#!/bin/sh\necho hi\n"})
        f = self.assertStatus(self.file("files-demo", "unicode.txt"), 200)
        self.assertEqual(f["content"], "caf\u00e9 \u2014 \u65e5\u672c\n")
        f = self.assertStatus(self.file("files-demo", "data.bin"), 200)
        self.assertNotIn("content", f)
        self.assertEqual(base64.b64decode(f["content_base64"]),
                         b"\x00\x01\xfe\xff")
        f = self.assertStatus(self.file("files-demo", "in-link"), 200)
        self.assertEqual(f["content"], "#!/bin/sh\necho hi\n")
        f = self.assertStatus(self.file("pdf-tools", "SKILL.md"), 200)
        self.assertTrue(f["content"].startswith("---\nname: pdf-tools\n"))
        # Percent-encoded names are decoded once.
        f = self.assertStatus(self.file("files-demo", "scripts%2Frun.sh"),
                              200)
        self.assertEqual(f["path"], "scripts/run.sh")

    def test_path_escapes(self):
        cases = (
            ("../pdf-tools/SKILL.md", 403, "path_outside_skill"),
            ("scripts/../../notes/SKILL.md", 403, "path_outside_skill"),
            ("..", 403, "path_outside_skill"),
            ("%2e%2e/notes/SKILL.md", 403, "path_outside_skill"),
            ("out-link", 403, "path_outside_skill"),
            ("out-dir/secret.txt", 403, "path_outside_skill"),
            ("scripts\\run.sh", 400, "invalid_path"),
            ("./SKILL.md", 400, "invalid_path"),
            ("nope.txt", 404, "file_not_found"),
            ("scripts", 404, "file_not_found"),
        )
        for path, status, code in cases:
            with self.subTest(path=path):
                p = self.assertProblem(self.file("files-demo", path), status,
                                       code)
                self.assertNotIn("top secret", p["detail"])
        # An absolute path has an empty segment: no route at all.
        self.assertProblem(self.file("files-demo", "/etc/passwd"), 404,
                           "not_found")
        self.assertProblem(self.d.get("/api/v1/skills/files-demo/files"),
                           404, "not_found")
        self.assertProblem(self.file("nope", "SKILL.md"), 404,
                           "skill_not_found")


class PutTest(SkillsBase):

    def test_create_replace(self):
        r = self.put("made-here", {
            "skill_md": skill_md("made-here", "Made through the API.",
                                 "Use it well.\n"),
            "files": {"scripts/go.sh": "echo go\n", "ref/a.md": "# A\n"}})
        s = self.assertStatus(r, 200)
        self.assertIs(s["created"], True)
        self.assertEqual(s["root"], self.r1)
        self.assertEqual(sorted(f["path"] for f in s["files"]),
                         ["SKILL.md", "ref/a.md", "scripts/go.sh"])
        with open(os.path.join(self.r1, "made-here", "scripts",
                               "go.sh")) as f:
            self.assertEqual(f.read(), "echo go\n")
        g = self.assertStatus(self.d.get("/api/v1/skills/made-here"), 200)
        self.assertEqual(g["body"], "Use it well.\n")
        items = self.d.get("/api/v1/skills/search?q=api").body["items"]
        self.assertEqual(names(items), ["made-here"])

        r = self.put("made-here", {"skill_md": skill_md(
            "made-here", "Second version.", "Now different.\n")})
        s = self.assertStatus(r, 200)
        self.assertIs(s["created"], False)
        self.assertEqual([f["path"] for f in s["files"]], ["SKILL.md"])
        self.assertFalse(os.path.exists(os.path.join(self.r1, "made-here",
                                                     "scripts")))
        self.assertEqual([n for n in os.listdir(self.r1)
                          if n.startswith(".")], [])
        self.assertEqual(self.d.get("/api/v1/skills/made-here")
                         .body["description"], "Second version.")

    def test_invalid_skill_is_422_with_reasons(self):
        r = self.put("bad-one", {"skill_md": "no front matter"})
        p = self.assertProblem(r, 422, "invalid_skill")
        self.assertIn("no front matter", p["reasons"][0])
        r = self.put("bad-one", {"skill_md": skill_md("other-name", "x")})
        p = self.assertProblem(r, 422, "invalid_skill")
        self.assertEqual(p["reasons"],
                         ["name 'other-name' is not the folder's name "
                          "'bad-one'"])
        r = self.put("Bad_One", {"skill_md": skill_md("Bad_One", "x")})
        self.assertProblem(r, 422, "invalid_skill")
        r = self.put("bad-one", {"skill_md": skill_md(
            "bad-one", "d" * 1025)})
        p = self.assertProblem(r, 422, "invalid_skill")
        self.assertIn("1025 characters", p["reasons"][0])
        self.assertFalse(os.path.exists(os.path.join(self.r1, "bad-one")))

    def test_file_paths_that_escape(self):
        md = skill_md("escaper", "Tries to escape.")
        for path, status, code in (
                ("../evil.txt", 403, "path_outside_skill"),
                ("a/../../evil.txt", 403, "path_outside_skill"),
                ("/tmp/evil.txt", 403, "path_outside_skill"),
                ("a\\b.txt", 400, "invalid_path"),
                ("a//b.txt", 400, "invalid_path"),
                ("SKILL.md", 400, "invalid_path")):
            with self.subTest(path=path):
                r = self.put("escaper", {"skill_md": md,
                                         "files": {path: "x"}})
                p = self.assertProblem(r, status, code)
                self.assertEqual(p.get("argument"), "files")
        r = self.put("escaper", {"skill_md": md,
                                 "files": {"a": "x", "a/b": "y"}})
        self.assertProblem(r, 400, "invalid_path")
        self.assertFalse(os.path.exists(os.path.join(self.r1, "escaper")))
        self.assertFalse(os.path.exists(os.path.join(self.tree,
                                                     "evil.txt")))
        self.assertEqual([n for n in os.listdir(self.r1)
                          if n.startswith(".")], [])

    def test_bad_bodies(self):
        md = skill_md("body-test", "x")
        self.assertProblem(self.put("body-test", {}), 400,
                           "missing_argument")
        self.assertProblem(self.put("body-test", {"skill_md": md,
                                                  "files": ["a"]}),
                           400, "invalid_argument")
        self.assertProblem(self.put("body-test", {"skill_md": md,
                                                  "files": {"a": 1}}),
                           400, "invalid_argument")
        self.assertProblem(self.put("body-test", {"skill_md": md,
                                                  "extra": 1}),
                           400, "unknown_argument")
        self.assertProblem(self.put("body-test", {"skill_md": md,
                                                  "name": "x"}),
                           400, "duplicate_argument")
        r = self.d.request("PUT", "/api/v1/skills/body-test",
                           raw_body="skill_md=x", content_type="text/plain")
        self.assertProblem(r, 415, "unsupported_media_type")
        self.assertProblem(self.put("body-test", {"skill_md": md},
                                    token=False), 401, "unauthorized")
        # Names of operations are not names of skills over HTTP.
        self.assertProblem(self.put("rescan", {"skill_md": md}), 405,
                           "method_not_allowed")


class RescanTest(SkillsBase):

    def test_rescan_picks_up_changes(self):
        before = self.d.get("/api/v1/skills").body["items"]
        write(self.r2, "late-arrival/SKILL.md", skill_md(
            "late-arrival", "Written straight to disk.", "quokka\n"))
        self.assertProblem(self.d.get("/api/v1/skills/late-arrival"), 404,
                           "skill_not_found")
        r = self.d.post("/api/v1/skills/rescan")
        counts = self.assertStatus(r, 200)
        self.assertEqual(set(counts), {"valid", "invalid", "took_ms"})
        self.assertEqual(counts["valid"], len(before) + 1)
        self.assertGreaterEqual(counts["invalid"], 3)
        self.assertEqual(names(self.d.get("/api/v1/skills/search?q=quokka")
                               .body["items"]), ["late-arrival"])
        shutil.rmtree(os.path.join(self.r2, "late-arrival"))
        self.assertStatus(self.d.post("/api/v1/skills/rescan"), 200)
        self.assertProblem(self.d.get("/api/v1/skills/late-arrival"), 404)

    def test_changes_are_announced(self):
        """A rescan and a written skill each publish skill.changed (the
        dashboard reads the catalog again); a refused write publishes
        nothing."""
        from test_events import SSEClient
        sse = SSEClient(self.d, "?types=skill.changed")
        try:
            counts = self.assertStatus(
                self.d.post("/api/v1/skills/rescan"), 200)
            self.assertProblem(self.put("bad-one", {"skill_md": "nope"}),
                               422, "invalid_skill")
            self.assertStatus(self.put("announced", {"skill_md": skill_md(
                "announced", "Written to be announced.", "body\n")}), 200)
            evs = sse.next_events(2)
        finally:
            sse.close()
        docs = [e.json for e in evs]
        self.assertEqual([e.event for e in evs], ["skill.changed"] * 2)
        self.assertEqual(docs[0]["subject"], "skills")
        self.assertEqual(docs[0]["data"], {"reason": "rescan",
                                           "valid": counts["valid"],
                                           "invalid": counts["invalid"]})
        self.assertEqual(docs[1]["subject"], "skill:announced")
        self.assertEqual(docs[1]["data"], {"reason": "put",
                                           "name": "announced",
                                           "created": True})

    def test_rescan_method_and_token(self):
        self.assertProblem(self.d.get("/api/v1/skills/rescan"), 405,
                           "method_not_allowed")
        self.assertProblem(self.d.post("/api/v1/skills/rescan", token=False),
                           401, "unauthorized")
        self.assertProblem(self.d.post("/api/v1/skills/rescan", {"x": 1}),
                           400, "unknown_argument")


class ReservedNameTest(DaemonTestCase):
    """A skill named like an operation's path ("search") is listed, found
    and served by skill.file over HTTP, and reached by name on the
    socket."""

    def test_skill_named_search(self):
        tree = tempfile.mkdtemp(prefix="colibri-skills-")
        try:
            write(tree, "search/SKILL.md", skill_md(
                "search", "Find things.", "Look everywhere.\n"))
            d = self.daemon(["--skills-path", tree])
            self.assertEqual(names(d.get("/api/v1/skills").body["items"]),
                             ["search"])
            self.assertEqual(names(d.get("/api/v1/skills/search?q=find")
                                   .body["items"]), ["search"])
            f = self.assertStatus(
                d.get("/api/v1/skills/search/files/SKILL.md"), 200)
            self.assertTrue(f["content"].startswith("---\nname: search"))
            a = d.socket_call("skill.get", {"name": "search"})
            self.assertIs(a["ok"], True, a)
            self.assertEqual(a["result"]["body"], "Look everywhere.\n")
            a = d.socket_call("skill.list", {})
            self.assertEqual(a["result"], d.get("/api/v1/skills").body)
        finally:
            shutil.rmtree(tree, ignore_errors=True)


class ConfigTest(DaemonTestCase):

    def test_no_roots(self):
        d = self.daemon()
        body = self.assertStatus(d.get("/api/v1/skills"), 200)
        self.assertEqual(body, {"items": [], "next": None})
        self.assertEqual(self.assertStatus(d.post("/api/v1/skills/rescan"),
                                           200)["valid"], 0)
        r = d.request("PUT", "/api/v1/skills/x", body={
            "skill_md": skill_md("x", "y")})
        self.assertProblem(r, 409, "no_writable_root")
        d.wait_for_log(r"skills: 0 valid, 0 invalid in 0 roots")

    def test_environment_and_file(self):
        tree = tempfile.mkdtemp(prefix="colibri-skills-")
        try:
            a, b, c = (os.path.join(tree, n) for n in "abc")
            write(a, "one/SKILL.md", skill_md("one", "From a."))
            write(b, "two/SKILL.md", skill_md("two", "From b."))
            write(c, "three/SKILL.md", skill_md("three", "From c."))
            d = self.daemon(env={"COLIBRI_SKILLS_PATH": a + ":" + b})
            self.assertEqual(names(d.get("/api/v1/skills").body["items"]),
                             ["one", "two"])
            d.stop()
            conf = write(tree, "colibrid.conf",
                         "skills-path = %s, %s:%s\n" % (a, b, c))
            d = self.daemon(["--config", conf])
            self.assertEqual(names(d.get("/api/v1/skills").body["items"]),
                             ["one", "three", "two"])
            d.stop()
            # A flag replaces what the environment and the file say.
            d = self.daemon(["--config", conf, "--skills-path", c],
                            env={"COLIBRI_SKILLS_PATH": a})
            self.assertEqual(names(d.get("/api/v1/skills").body["items"]),
                             ["three"])
            out = colibri_test.run_colibrid(
                ["--print-config", "--skills-path", a, "--skills-path", b])
            self.assertIn("skills-path = %s:%s\n" % (a, b), out.stdout)
            out = colibri_test.run_colibrid(
                ["--check-config", "--data-dir", tree, "--skills-path",
                 conf])
            self.assertEqual(out.returncode, 1)
            self.assertIn("not a directory", out.stderr)
        finally:
            shutil.rmtree(tree, ignore_errors=True)


if __name__ == "__main__":
    colibri_test.main()
